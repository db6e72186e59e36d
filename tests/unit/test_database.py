"""Transactions on SQLite: readers never take the write lock, writers queue for it on their
process's mutex and hold it only for their own transaction, and a request's writes end with
their commit (nothing read afterwards reopens a transaction, which would hold the lock until the
request ends)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from controlplane import events
from controlplane.api.serializers import action_to_json, container_to_json
from controlplane.api.trees import TUTUM, Links
from controlplane.core.lifecycle import Action
from controlplane.db import containers, nodes
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import SQLITE_LOCK_TIMEOUT, Database, utcnow
from controlplane.db.models import User
from controlplane.operations import container_spec
from tests.unit.helpers import Account

REQUEST = RequestInfo(method="POST", path="/api/v1/container/", user_agent="", ip="", body="")
LINKS = Links(TUTUM, None)


def mutex(database: Database) -> threading.Lock:
    """The writers' mutex of the database's (only) SQLite file."""
    with database.engine.connect() as connection:
        return connection.connection.dbapi_connection.mutex  # type: ignore[union-attr]


def add_user(session: Session, name: str) -> None:
    session.execute(insert(User).values(username=name, created_at=utcnow()))


def users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The first word of every statement run on `engine` inside the block, with BEGIN and
    COMMIT for each transaction's ends."""
    seen: list[str] = []

    def statement(_c: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql.split()[0])

    def begin(_connection: Any) -> None:
        seen.append("BEGIN")

    def commit(_connection: Any) -> None:
        seen.append("COMMIT")

    listeners: dict[str, Callable[..., Any]] = {
        "before_cursor_execute": statement,
        "begin": begin,
        "commit": commit,
    }
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        yield seen
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)


# --- the database ----------------------------------------------------------------------------


def test_a_write_holds_the_mutex_from_its_begin_to_its_commit(database: Database) -> None:
    lock = mutex(database)
    with database.session() as session:
        assert not lock.locked()
        add_user(session, "alice")
        assert lock.locked()
        session.commit()
        assert not lock.locked()


@pytest.mark.parametrize("end", ["rollback", "close"])
def test_a_write_that_is_not_committed_gives_the_mutex_back(database: Database, end: str) -> None:
    lock = mutex(database)
    session = database.sessions()
    add_user(session, "alice")
    assert lock.locked()
    getattr(session, end)()
    assert not lock.locked()
    with database.read_session() as reading:
        assert users(reading) == 0


def test_a_reader_reads_while_a_writer_holds_the_lock(database: Database) -> None:
    """If reads took the write lock, this read would wait out the whole lock timeout."""
    counted: list[int] = []
    with database.session() as writing:
        add_user(writing, "alice")

        def read() -> None:
            with database.read_session() as reading:
                counted.append(users(reading))

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(10)
        assert not reader.is_alive()
        writing.commit()
    assert counted == [0]


def test_a_writer_waits_for_another_process_to_let_go_of_the_lock(
    database: Database, database_url: str
) -> None:
    """Another process (here a plain connection) holds the write lock: the writer keeps asking,
    without SQLite's busy handler, until it is free, then writes and restores the handler."""
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    done = threading.Event()
    busy_timeouts: list[int] = []

    def write() -> None:
        with database.session() as session:
            add_user(session, "alice")
            busy_timeouts.append(
                session.connection().exec_driver_sql("PRAGMA busy_timeout").one()[0]
            )
            session.commit()
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not done.wait(0.2)  # still waiting for the other connection
    other.execute("COMMIT")
    other.close()
    writer.join(10)
    assert done.is_set() and busy_timeouts == [SQLITE_LOCK_TIMEOUT * 1000]
    assert not mutex(database).locked()


def test_a_read_session_cannot_write(database: Database) -> None:
    with database.read_session() as reading, pytest.raises(OperationalError, match="readonly"):
        add_user(reading, "alice")


def test_writers_of_many_threads_all_get_their_turn(database: Database) -> None:
    failures: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            for number in range(20):
                with database.session() as session:
                    add_user(session, f"u{thread}-{number}")
                    session.commit()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert not mutex(database).locked()
    with database.read_session() as reading:
        assert users(reading) == 8 * 20


def test_an_in_memory_database_reads_through_its_one_engine() -> None:
    database = Database("sqlite://")
    try:
        assert database.read_engine is database.engine
    finally:
        database.dispose()


# --- store: a write ends with its commit ------------------------------------------------------


def test_a_new_container_is_answered_and_announced_without_another_transaction(
    database: Database, account: Account, node: str
) -> None:
    with database.session() as session:
        node_id = nodes.get_node(session, uuid=node).id
        session.commit()
        container, action = containers.insert_container(
            session,
            owner_id=account.user_id,
            node_id=node_id,
            fields={"uuid": "c", "name": "web", "unique_name": "web-c", "image_name": "busybox"},
            request=REQUEST,
        )
        assert not session.in_transaction()
        container_to_json(container, LINKS)  # the answer (a create's Action is not in it)
        events.container_event(container, events.CREATE)
        events.action_event(action, events.CREATE)
        assert not session.in_transaction()
    assert not mutex(database).locked()


def add_container(database: Database, account: Account, node: str) -> str:
    with database.session() as session:
        containers.insert_container(
            session,
            owner_id=account.user_id,
            node_id=nodes.get_node(session, uuid=node).id,
            fields={"uuid": "c", "name": "web", "unique_name": "web-c", "image_name": "busybox"},
            request=REQUEST,
        )
    return "c"


def test_an_accepted_action_is_answered_announced_and_sent_without_another_transaction(
    database: Database, account: Account, node: str
) -> None:
    uuid = add_container(database, account, node)
    with database.session() as session:
        container, record, _ = containers.begin_action(
            session, owner_id=account.user_id, uuid=uuid, action=Action.START, request=REQUEST
        )
        assert not session.in_transaction()
        # What operations.perform and the answer read.
        events.container_event(container, events.UPDATE)
        events.action_event(record, events.CREATE)
        assert (container_spec(container).image_name, container.node.uuid) == ("busybox", node)
        assert container_to_json(container, LINKS)["state"] == "Starting"
        assert not session.in_transaction()


def test_a_canceled_action_is_answered_and_announced_without_another_transaction(
    database: Database, account: Account, node: str
) -> None:
    uuid = add_container(database, account, node)
    with database.session() as session:
        pending = containers.begin_action(
            session, owner_id=account.user_id, uuid=uuid, action=Action.START, request=REQUEST
        )[1].uuid
    with database.session() as session:
        _, record = containers.cancel_action(session, owner_id=account.user_id, uuid=pending)
        assert not session.in_transaction()
        events.container_event(record.container, events.UPDATE)
        events.action_event(record, events.UPDATE)
        assert action_to_json(record, LINKS)["state"] == "Canceled"
        assert not session.in_transaction()


def test_a_retried_action_is_answered_without_another_transaction(
    database: Database, account: Account, node: str
) -> None:
    uuid = add_container(database, account, node)
    with database.session() as session:
        container, record, rollback = containers.begin_action(
            session, owner_id=account.user_id, uuid=uuid, action=Action.START, request=REQUEST
        )
        containers.abandon_action(
            session, container=container, action=record, rollback_state=rollback, reason="down"
        )
    with database.session() as session:
        container, record, _ = containers.retry_action(
            session, owner_id=account.user_id, uuid=record.uuid
        )
        assert not session.in_transaction()
        events.container_event(container, events.UPDATE)
        assert action_to_json(record, LINKS)["state"] == "Pending"
        assert not session.in_transaction()


# --- the API: reads read, writes end with their commit ------------------------------------


def test_a_create_writes_in_one_transaction_and_nothing_after_its_commit(
    app: Flask, client: FlaskClient, account: Account, node: str
) -> None:
    database: Database = app.extensions["controlplane"].database
    with statements(database.engine) as written:
        response = client.post(
            "/api/v1/container/", json={"image_name": "busybox"}, headers=account.headers
        )
    assert response.status_code == 201
    assert written[0] == "BEGIN" and written[-1] == "COMMIT"
    assert written.count("BEGIN") == 1
    assert not mutex(database).locked()


def test_reads_never_touch_the_writers_engine(
    app: Flask, client: FlaskClient, account: Account, node: str
) -> None:
    database: Database = app.extensions["controlplane"].database
    created = client.post(
        "/api/v1/container/", json={"image_name": "busybox"}, headers=account.headers
    ).get_json()
    with statements(database.engine) as written, statements(database.read_engine) as read:
        for url in (
            "/api/v1/container/",
            "/api/v1/container/?name=busybox",
            created["resource_uri"],
            "/api/v1/action/",
            "/api/v1/node/",
            f"/api/v1/node/{node}/",
        ):
            assert client.get(url, headers=account.headers).status_code == 200
    assert written == []
    assert "BEGIN" in read and "SELECT" in read
