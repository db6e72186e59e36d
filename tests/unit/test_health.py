"""`GET /livez` and `GET /readyz`: no credentials; ready only when the database answers at this
version's schema and the broker answers; a 503 names what is missing without naming a host.
The unit app's broker is a closed port, so readiness here fails on it unless a test stands a
client that answers in for Redis (the live test, tests/integration/test_health.py, has Redis)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from controlplane.api import health
from controlplane.db.engine import Database
from tests.support.openapi import validate_answer

OPENAPI = "/api/openapi.json"


class AnsweringBroker:
    def ping(self) -> bool:
        return True


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get(OPENAPI).get_json()
    return body


def answer(client: FlaskClient, document: dict[str, Any], path: str, status: int) -> Any:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    validate_answer(document, "GET", path, status, body)
    return body


@pytest.fixture
def broker_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "broker_client", lambda url: AnsweringBroker())


def test_a_live_process_says_so_without_credentials(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    assert answer(client, document, "/livez", 200) == {"status": "alive"}


def test_ready_when_the_database_and_the_broker_answer(
    client: FlaskClient, document: dict[str, Any], broker_answers: None
) -> None:
    assert answer(client, document, "/readyz", 200) == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok"},
    }


def test_a_broker_that_does_not_answer_makes_it_unready(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    body = answer(client, document, "/readyz", 503)
    assert body == {"error": "not ready: the broker does not answer", "code": "not-ready-error"}


def test_a_database_at_another_schema_makes_it_unready(
    client: FlaskClient, document: dict[str, Any], database: Database, broker_answers: None
) -> None:
    with database.session() as session:  # as if this code were newer than the database
        session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        session.commit()
    body = answer(client, document, "/readyz", 503)
    assert body["error"] == (
        "not ready: the database is not at this version's schema (controlplane db upgrade)"
    )
