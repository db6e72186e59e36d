"""Database plumbing: engines configured per backend, sessions, and small shared helpers.

Query modules (`store` for containers and nodes, `audit` for actions, `accounts` for users)
build on this; it knows no table.
"""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker


def utcnow() -> datetime:
    """Naive UTC now, the form every datetime column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def from_ns(observed_ns: int) -> datetime:
    return datetime.fromtimestamp(observed_ns / 1e9, UTC).replace(tzinfo=None)


def new_uuid() -> str:
    return str(uuid_lib.uuid4())


class Database:
    """An engine and its session factory, configured for the URL's backend."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that is rolled back unless the caller committed, and always closed."""
        session = self.sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN itself (pysqlite's own BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is locked"
    # when another writer committed in between (WAL snapshots cannot be upgraded), and the busy
    # timeout does not help. Taking the write lock up front makes writers queue instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def page(
    session: Session, query: Any, order: Any, *, limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of `query` in `order`, and how many rows the whole query has.

    A page that is not full is the last one, so the total is known without counting, which
    saves the COUNT (a read of every matching index entry) on every narrow filter.
    """
    rows = list(session.scalars(query.order_by(order).limit(limit).offset(offset)).unique().all())
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return rows, total
