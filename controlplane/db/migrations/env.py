"""Alembic environment: runs the migrations against the URL `controlplane.db.migrate` passes in."""

from __future__ import annotations

from alembic import context

from controlplane.db.engine import make_engine
from controlplane.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "controlplane.db.migrate sets sqlalchemy.url"
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
