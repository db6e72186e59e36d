"""`GET /livez` and `GET /readyz`, for a load balancer, a service manager or an orchestrator's
probes; no credentials, and nothing in an answer that names a host, a URL or a user.

Live means the process serves HTTP at all: restart it when it does not answer. Ready means it
can serve the API: its database answers, at the schema this code expects (an API started
against a database another version migrated is not ready), and its broker answers, without
which no operation can be queued. Each probe is one `SELECT 1`, one read of Alembic's version
table and one Redis `PING`, each bounded by BROKER_TIMEOUT or the database's own timeouts; what
failed is logged with its cause, and named without it in the 503.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import redis
from flask_restful import Resource
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from controlplane.api.base import read_session, services
from controlplane.core.errors import NotReadyError
from controlplane.db import migrate

log = logging.getLogger(__name__)

LIVENESS_PATH = "/livez"
READINESS_PATH = "/readyz"
BROKER_TIMEOUT = 2.0  # seconds a probe waits on Redis


class LivenessResource(Resource):
    def get(self) -> dict[str, Any]:
        return {"status": "alive"}


class ReadinessResource(Resource):
    def get(self) -> dict[str, Any]:
        checks = {"database": _database(), "broker": _broker()}
        failing = [why for why in checks.values() if why != "ok"]
        if failing:
            raise NotReadyError(failing="; ".join(failing))
        return {"status": "ready", "checks": checks}


def _database() -> str:
    try:
        with read_session() as session:
            session.execute(text("SELECT 1"))
            current = migrate.is_current(session.connection())
    except SQLAlchemyError as exc:
        log.warning("readiness: the database does not answer: %s", exc)
        return "the database does not answer"
    if not current:
        log.warning("readiness: the database is not at this version's schema")
        return "the database is not at this version's schema (controlplane db upgrade)"
    return "ok"


def _broker() -> str:
    try:
        broker_client(services().settings.broker_url).ping()
    except (redis.RedisError, OSError) as exc:
        log.warning("readiness: the broker does not answer: %s", exc)
        return "the broker does not answer"
    return "ok"


@cache
def broker_client(url: str) -> redis.Redis:
    """One client (and connection pool) per broker URL for the process's probes and metrics
    scrapes, with short timeouts: neither may hang on a broker that does not answer."""
    return redis.Redis.from_url(
        url, socket_timeout=BROKER_TIMEOUT, socket_connect_timeout=BROKER_TIMEOUT
    )
