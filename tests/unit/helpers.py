"""What the unit tests share besides fixtures: the account type of the `account` fixtures, the
HTTP helpers for the Flask test client, the record helpers for the database, and stand-ins for
the broker."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from controlplane import events
from controlplane.core.lifecycle import Action, State
from controlplane.core.messages import ContainerReport, Event, Operation
from controlplane.db import containers, nodes, observations
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import new_uuid
from controlplane.db.models import ActionRecord, Container

# The secret key of the unit tests' settings (`settings` in conftest.py).
SECRET_KEY = "unit-tests-secret-key-of-32-characters-at-least"


@dataclass(frozen=True)
class Account:
    """A user and one of its API keys, with the header forms the SDKs send."""

    user_id: int
    username: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"ApiKey {self.username}:{self.key}"}


# --- HTTP through the test client ------------------------------------------------------------

CONTAINERS = "/api/v1/container/"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


def basic(username: str, key: str, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(f'{username}:{key}'.encode()).decode()}"


def create(client: FlaskClient, account: Account, **fields: Any) -> dict[str, Any]:
    response = client.post(
        CONTAINERS, json={"image_name": "busybox", **fields}, headers=account.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get_json(client: FlaskClient, url: str, account: Account) -> dict[str, Any]:
    response = client.get(url, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def total(client: FlaskClient, account: Account, url: str = CONTAINERS) -> int:
    return get_json(client, url, account)["meta"]["total_count"]


def assert_error(response: TestResponse, status: int, field: str | None = None) -> dict[str, Any]:
    """A JSON error body with a human sentence, no traceback, and the field when one is named."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/json"
    data = json.loads(text)
    assert isinstance(data, dict)
    assert isinstance(data["error"], str) and data["error"]
    assert "Traceback" not in text
    if field is not None:
        assert data["field"] == field
    return data


# --- records in the database -----------------------------------------------------------------

REQUEST = RequestInfo(method="POST", path="/api/v1/container/", user_agent="", ip="", body="")


def add_container(session: Session, *, owner_id: int, node_uuid: str, name: str = "web") -> str:
    node = nodes.get_node(session, uuid=node_uuid)
    uuid = new_uuid()
    containers.insert_container(
        session,
        owner_id=owner_id,
        node_id=node.id,
        fields={
            "uuid": uuid,
            "name": name,
            "unique_name": f"{name}-{uuid[:8]}",
            "image_name": "busybox:latest",
        },
        request=REQUEST,
    )
    return uuid


def state_of(session: Session, uuid: str) -> State:
    session.expire_all()
    return State(session.scalar(select(Container.state).where(Container.uuid == uuid)))


def action(session: Session, uuid: str) -> ActionRecord:
    session.expire_all()
    record = session.scalar(select(ActionRecord).where(ActionRecord.uuid == uuid))
    assert record is not None
    return record


def apply(
    session: Session, uuid: str, state: State, observed_ns: int, node_uuid: str, **extra: object
) -> bool:
    report = ContainerReport.from_dict(
        {
            "container_uuid": uuid,
            "state": state.value,
            "observed_ns": observed_ns,
            "node_uuid": node_uuid,
            **extra,
        }
    )
    return observations.apply_container_report(session, report).changed


def query_plans(session: Session, work: Callable[[], object]) -> list[str]:
    """SQLite's plan of every query `work` runs (EXPLAIN QUERY PLAN), its steps on one line."""
    statements: list[tuple[str, object]] = []

    def record(_c: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        if statement.startswith("SELECT"):
            statements.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    connection = session.connection()
    return [
        " ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p))
        for s, p in statements
    ]


def accept(session: Session, account: Account, uuid: str, action: Action) -> str:
    """Accept an action the way the API does, without a broker: the action stays Pending."""
    _, record, _ = containers.begin_action(
        session,
        owner_id=account.user_id,
        uuid=uuid,
        action=action,
        request=RequestInfo(method="POST", path="/", user_agent="test", ip="127.0.0.1", body=""),
    )
    # End the transaction the refresh opened: SQLite transactions here take the write lock.
    session.commit()
    return record.uuid


# --- services ------------------------------------------------------------------------------

SERVICES = "/api/v1/service/"


class SentOperations:
    """Stands in for the dispatcher's broker: what would have gone to each node."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Operation]] = []

    def send_operation(self, node_uuid: str, operation: Operation) -> None:
        self.sent.append((node_uuid, operation))

    def take(self) -> list[tuple[str, Operation]]:
        taken, self.sent = self.sent, []
        return taken


class RecordingPublisher(events.EventPublisher):
    """Keeps what would have gone to the broker's fanout exchange."""

    def __init__(self) -> None:
        self.published: list[Event] = []

    def publish(self, batch: Iterable[Event]) -> None:
        self.published.extend(batch)


def create_service(client: FlaskClient, account: Account, **fields: Any) -> dict[str, Any]:
    body = {"image": "busybox", "name": "web", **fields}
    response = client.post(SERVICES, json=body, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def post(client: FlaskClient, account: Account, url: str, **body: Any) -> dict[str, Any]:
    response = client.post(url, json=body or None, headers=account.headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()
