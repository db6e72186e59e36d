"""Database plumbing: engines configured per backend, sessions, and small shared helpers.

The query modules beside it (`nodes`, `containers`, `observations`, `actions`, `users`) build on
this; it knows no table.

On SQLite every transaction of `Database.sessions` is a writer's: it takes the database's write
lock as it begins (BEGIN IMMEDIATE), and the threads of one process queue for that lock on a
mutex of their own before asking SQLite (see `_WriterConnection`). `Database.read_sessions`
read in deferred transactions on connections that cannot write, so readers never wait for a
writer, nor a writer for them (WAL). On PostgreSQL both are the same plain sessions.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import uuid as uuid_lib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    create_engine,
    event,
    false,
    func,
    make_url,
    select,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

# Seconds a writer waits for the write lock before failing with "database is locked", as
# SQLite's own busy timeout made it; and how often the writer at the head of a process's queue
# asks for it.
SQLITE_LOCK_TIMEOUT = 30
WRITER_POLL = 0.0005


def utcnow() -> datetime:
    """Naive UTC now, the form every datetime column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def from_ns(observed_ns: int) -> datetime:
    return datetime.fromtimestamp(observed_ns / 1e9, UTC).replace(tzinfo=None)


def new_uuid() -> str:
    return str(uuid_lib.uuid4())


# What a uuid is made of, as generated (`new_uuid`): lower-case hex digits and dashes.
_UUID_CHARACTERS = re.compile(r"[0-9a-f-]*")


def uuid_prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    """Rows whose uuid `column` starts with `prefix`, in any case (the SDKs' and CLIs' short
    ids, `uuid__startswith`).

    A LIKE cannot use an index on SQLite (it ignores case there), so the prefix is also given
    as a range, `prefix <= uuid < prefix + "g"`, which an index on the uuid answers: a uuid
    holds nothing above "f". The LIKE stays, so the answer is exact under any collation; a
    prefix that no uuid can start with matches nothing.
    """
    prefix = prefix.lower()
    if not _UUID_CHARACTERS.fullmatch(prefix):
        return false()
    return and_(
        column >= prefix,
        column < prefix + "g",
        column.startswith(prefix, autoescape=True),
    )


class Database:
    """An engine and its session factories, configured for the URL's backend."""

    def __init__(self, url: str) -> None:
        create_private_sqlite_file(url)
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_engine = make_read_engine(url) or self.engine
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that is rolled back unless the caller committed, and always closed."""
        session = self.sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reading only (on SQLite it cannot write), always closed.

        Closed without a rollback first, which would expire what it loaded: the objects stay
        readable, detached, after the block.
        """
        session = self.read_sessions()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    # A class per engine, so each engine (each database) has its own writers' mutex.
    writer = type("WriterConnection", (_WriterConnection,), {"mutex": threading.Lock()})
    engine = create_engine(
        url,
        connect_args={
            "timeout": SQLITE_LOCK_TIMEOUT,
            "check_same_thread": False,
            "factory": writer,
        },
    )
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def make_read_engine(url: str) -> Engine | None:
    """A second engine on the same SQLite file whose connections only read, in deferred
    transactions; None when the writers' engine must serve reads too (other backends, and an
    in-memory database, which a second engine would not share)."""
    if sqlite_file(url) is None:
        return None
    engine = create_engine(
        url, connect_args={"timeout": SQLITE_LOCK_TIMEOUT, "check_same_thread": False}
    )
    event.listen(engine, "connect", _configure_sqlite_reader)
    event.listen(engine, "begin", _begin_deferred)
    return engine


def sqlite_file(url: str) -> str | None:
    """The path of the SQLite file a URL names; None for other backends and in-memory
    databases (a `file:` URI counts as one of those: its path is SQLite's to read)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("mode") == "memory" or parsed.query.get("uri"):
        return None
    return parsed.database


def create_private_sqlite_file(url: str) -> None:
    """Create the SQLite file of `url`, empty and mode 0600, unless it exists.

    The database holds every container's environment values (often secrets) and the API keys'
    hashes, but SQLite creates a missing file 0644 under the usual umask, and its -wal and -shm
    files copy the database file's mode. An empty file is a valid empty database, so creating it
    here first, before SQLAlchemy or Alembic connects, makes all three private whatever the
    umask. An existing file is left as its operator made it (docs/operations.md §8). A missing
    directory is left for SQLite to report as it always has.
    """
    path = sqlite_file(url)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):
        return
    try:
        os.fchmod(fd, 0o600)  # os.open's mode is filtered by the umask
    finally:
        os.close(fd)


class _WriterConnection(sqlite3.Connection):
    """A SQLite connection whose transactions wait their turn fairly for the write lock.

    Left to itself SQLite makes a writer that finds the write lock taken sleep and retry,
    sleeping longer the longer it has waited (up to 100 ms a time), while a newcomer tries at
    once: under a steady stream of writes the oldest waiters lose every time, and some waited
    seconds. Here the threads of a process first queue on `mutex`, which wakes the next one as
    soon as the last is done, and the one at its head asks SQLite for the lock every
    WRITER_POLL seconds, at the same pace as the head of any other process's queue (the other
    API workers, the reporter).

    The mutex is taken before BEGIN IMMEDIATE and given back by whatever ends the transaction
    on this connection: commit, rollback (also the pool's reset of a returned connection) or
    close.
    """

    mutex: threading.Lock
    _holding = False

    def begin_write(self) -> None:
        """BEGIN IMMEDIATE, once this connection's turn has come.

        Raises:
            OperationalError: "database is locked" after SQLITE_LOCK_TIMEOUT seconds, as SQLite
                itself would say (the reporter retries on it), or any other error of the BEGIN.
        """
        deadline = time.monotonic() + SQLITE_LOCK_TIMEOUT
        if not self.mutex.acquire(timeout=SQLITE_LOCK_TIMEOUT):
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            )
        self._holding = True
        try:
            self._begin_immediate(deadline)
        except BaseException:
            self.release()
            raise

    def _begin_immediate(self, deadline: float) -> None:
        # No busy handler for the BEGIN: this loop is the busy handler, without its back-off.
        # (Every other statement keeps the busy timeout, for SQLite's brief internal locks.)
        self.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    busy = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
                    if not busy or time.monotonic() > deadline:
                        raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
                time.sleep(WRITER_POLL)
        finally:
            self.execute(f"PRAGMA busy_timeout = {SQLITE_LOCK_TIMEOUT * 1000}")

    def release(self) -> None:
        if self._holding:
            self._holding = False
            self.mutex.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release()


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN itself (pysqlite's own BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _configure_sqlite_reader(dbapi_connection: Any, record: Any) -> None:
    _configure_sqlite(dbapi_connection, record)
    # A write through a read session is a bug: fail loudly rather than write unlocked.
    dbapi_connection.execute("PRAGMA query_only=ON")


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is locked"
    # when another writer committed in between (WAL snapshots cannot be upgraded), and the busy
    # timeout does not help. Taking the write lock up front makes writers queue instead.
    connection.connection.dbapi_connection.begin_write()


def _begin_deferred(connection: Any) -> None:
    # An explicit BEGIN, so every query of a read session sees one snapshot (a page and its
    # count agree); pysqlite would begin only before a write.
    connection.exec_driver_sql("BEGIN")


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
