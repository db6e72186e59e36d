"""Unit-test fixtures: a migrated SQLite file per test, the Flask app over it, users and nodes.

No service is started. The broker URL points at a closed port, so any test that reaches the
broker by accident fails fast instead of talking to a Redis somebody left running.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.app import create_app
from controlplane.core.messages import ContainerReport, NodeReport
from controlplane.db import enrollment, migrate, nodes, observations, users
from controlplane.db.engine import Database
from controlplane.db.models import Service
from controlplane.settings import Settings
from tests.unit.helpers import SECRET_KEY, Account, SentOperations, add_container

CLOSED_BROKER_URL = "redis://127.0.0.1:1/0"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database file brought to the newest schema by the real migrations; each test copies it
    instead of migrating again (Alembic start-up dominates a unit test's run time)."""
    path = tmp_path_factory.mktemp("template") / "cp.db"
    migrate.upgrade(f"sqlite:///{path}")
    # The migration's engine is disposed, so SQLite has folded its WAL into the main file.
    assert not path.with_name("cp.db-wal").exists()
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str]:
    """The same on the suite's PostgreSQL cluster: one migrated database per test process,
    which each test finds with its tables emptied (`tests.support.postgres.empty_tables`)."""
    from tests.support import postgres

    url = postgres.create_database()
    migrate.upgrade(url)
    yield url
    postgres.drop_database(url)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test (or module) marked `both_backends` runs once on SQLite and once on PostgreSQL:
    what one backend stores, the other may refuse (NUL bytes, integer and varchar widths)."""
    if metafunc.definition.get_closest_marker("both_backends") and (
        "database_url" in metafunc.fixturenames
    ):
        metafunc.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if getattr(request, "param", "sqlite") == "postgres":
        from tests.support import postgres

        url = request.getfixturevalue("postgres_migrated")
        postgres.empty_tables(url)
        yield url
        return
    path = tmp_path / "cp.db"
    shutil.copyfile(request.getfixturevalue("migrated_template"), path)
    yield f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, broker_url=CLOSED_BROKER_URL, secret_key=SECRET_KEY)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings, TESTING=False)
    assert app.config["PROPAGATE_EXCEPTIONS"] is False
    yield app
    app.extensions["controlplane"].database.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.session() as session:
        yield session


@pytest.fixture
def make_account(database: Database) -> Callable[[str], Account]:
    """Create (or find) a user and issue it a fresh key."""

    def make(username: str) -> Account:
        with database.session() as session:
            user, _ = users.ensure_user(session, username)
            key = users.issue_key(session, user)
            return Account(user_id=user.id, username=user.username, key=key)

    return make


@pytest.fixture
def account(make_account: Callable[[str], Account]) -> Account:
    return make_account("alice")


@pytest.fixture
def register_node(database: Database) -> Callable[..., str]:
    """Enroll a node (unless it is) and apply a heartbeat of it, as the reporter does; returns
    its uuid. `name` defaults to one made from the uuid, since node names are unique."""

    def register(
        node_uuid: str | None = None, name: str | None = None, tags: list[str] | None = None
    ) -> str:
        node_uuid = node_uuid or str(uuid.uuid4())
        with database.session() as session:
            if nodes.node_id(session, uuid=node_uuid) is None:
                enrolled = enrollment.enroll(session, name or f"node-{node_uuid}")
                enrolled.uuid = node_uuid
                session.commit()
        report = NodeReport(
            node_uuid=node_uuid,
            docker_version="27.0.0",
            cpu=2,
            memory_mb=2048,
            observed_ns=time.time_ns(),
            tags=tags or [],
        )
        with database.session() as session:
            nodes.apply_node_report(session, report)
        return node_uuid

    return register


@pytest.fixture
def node(register_node: Callable[..., str]) -> str:
    return register_node()


@pytest.fixture
def report(database: Database) -> Callable[..., bool]:
    """Apply a container report the way the reporter does; returns whether anything changed."""

    def apply(
        container_uuid: str,
        state: str,
        *,
        node_uuid: str,
        observed_ns: int | None = None,
        action_uuid: str | None = None,
        error: str | None = None,
        exit_code: int | None = None,
    ) -> bool:
        message = ContainerReport(
            container_uuid=container_uuid,
            state=state,
            observed_ns=time.time_ns() if observed_ns is None else observed_ns,
            node_uuid=node_uuid,
            action_uuid=action_uuid,
            error=error,
            exit_code=exit_code,
        )
        with database.session() as session:
            return observations.apply_container_report(session, message).changed

    return apply


@pytest.fixture
def container(session: Session, account: Account, node: str) -> str:
    """A container of `account` on `node`, stored as the API stores a create (Init, with its
    finished create action)."""
    return add_container(session, owner_id=account.user_id, node_uuid=node)


@pytest.fixture
def sent(app: Flask) -> SentOperations:
    recorder = SentOperations()
    app.extensions["controlplane"].operations.dispatcher = recorder
    return recorder


@pytest.fixture
def settle(
    app: Flask, database: Database, report: Callable[..., bool], sent: SentOperations
) -> Callable[[str], None]:
    """Answer every operation sent as a node would (the state it ends in), and converge the
    service after each report, as the reporter does, until nothing more is sent."""
    control = app.extensions["controlplane"].service_control
    ends = {"start": "Running", "redeploy": "Running", "stop": "Stopped", "terminate": "Terminated"}

    def run(service_uuid: str) -> None:
        with database.session() as session:
            service_id = session.scalar(select(Service.id).where(Service.uuid == service_uuid))
        for _ in range(50):
            batch = sent.take()
            if not batch:
                return
            for node_uuid, operation in batch:
                report(
                    operation.container_uuid,
                    ends[operation.action],
                    node_uuid=node_uuid,
                    action_uuid=operation.action_uuid,
                )
                control.converge(service_id)
        raise AssertionError("the service never settled")

    return run
