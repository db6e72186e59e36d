"""Alembic environment: runs the migrations against the URL `controlplane.db.migrate` passes in."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from controlplane.db.engine import make_engine
from controlplane.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "controlplane.db.migrate sets sqlalchemy.url"
    engine = make_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite's own procedure for a table rebuild (a batch migration): foreign keys off
            # outside the transaction, checked after it, so copying a table that others point
            # at neither fails nor loses the rows that point at it.
            _raw(connection).execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            _check_foreign_keys(connection)
    engine.dispose()


def _raw(connection: Connection) -> Any:
    raw = connection.connection.dbapi_connection
    assert raw is not None, "an open connection"
    return raw


def _check_foreign_keys(connection: Connection) -> None:
    raw = _raw(connection)
    broken = raw.execute("PRAGMA foreign_key_check").fetchall()
    raw.execute("PRAGMA foreign_keys=ON")
    if broken:
        raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")


run_migrations_online()
