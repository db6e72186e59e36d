"""The fuzzer's target: a live API process (gunicorn, as operators run it) on a database of its
own, SQLite or the suite's PostgreSQL cluster, and a Redis server of its own.

No reporter and no agent run: the fuzzer checks the API alone, so nothing but the API writes the
database while it runs, and a request's writes are exactly what changed across it. The node is
enrolled and its one heartbeat applied directly (as the reporter would), so creates are placed;
with no sweeper it stays Deployed. The tasks the API queues for it stay in the fuzzer's Redis.

Two tenants: `alice`, whose key the fuzzer sends, and `bob`, whose objects it must never see
nor touch. Caps on creates are lifted (they have tests of their own, tests/unit/test_quotas.py)
so that a fuzzed create reaches validation and storage rather than the rate limit.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fuzz.target import Target


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    from controlplane.core.messages import NodeReport
    from controlplane.db import nodes
    from controlplane.db.engine import Database
    from tests.fuzz.target import Target, seed_victim
    from tests.support import postgres
    from tests.support.api import answers
    from tests.support.plane import command, enroll
    from tests.support.processes import Service, free_port
    from tests.support.redis_server import RedisServer
    from tests.support.waiting import wait_for

    state: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "postgres":
        database_url = postgres.create_database()
    else:
        database_url = f"sqlite:///{state}/controlplane.db"
    broker = RedisServer(state / "redis")
    broker.start()
    env = {
        **os.environ,
        "CONTROLPLANE_DATABASE_URL": database_url,
        "CONTROLPLANE_BROKER_URL": broker.url,
        "CONTROLPLANE_SECRET_KEY": secrets.token_urlsafe(32),
        "CONTROLPLANE_PAGE_SIZE": "25",
        # A logs request to the agentless node is a 504 after this many seconds.
        "CONTROLPLANE_NODE_TIMEOUT": "2",
        "CONTROLPLANE_MAX_CONTAINERS_PER_USER": "1000000",
        "CONTROLPLANE_CREATES_PER_MINUTE": "1000000",
    }
    command(env, "db", "upgrade")
    keys = {name: command(env, "user", "create", name) for name in ("alice", "bob")}
    node_uuid, _ = enroll(env, "fuzz-node")
    database = Database(database_url)
    report = NodeReport(
        node_uuid=node_uuid,
        docker_version="27.0.0",
        cpu=2,
        memory_mb=2048,
        observed_ns=time.time_ns(),
        tags=[],
    )
    with database.session() as session:
        nodes.apply_node_report(session, report)
    port = free_port()
    api = Service("api", ["api", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env, state)
    try:
        running = Target(
            backend=request.param,
            base_url=f"http://127.0.0.1:{port}",
            keys=keys,
            node_uuid=node_uuid,
            database=database,
        )
        wait_for(lambda: answers(running.base_url), timeout=60, interval=0.2)
        seed_victim(running)
        yield running
    finally:
        api.stop()
        database.dispose()
        broker.stop()
        if request.param == "postgres":
            postgres.drop_database(database_url)
