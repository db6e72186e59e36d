"""The migrations build exactly the schema the models declare, and upgrading is idempotent."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from controlplane import migrate
from controlplane.models import Base

TABLES = {"alembic_version", "users", "api_keys", "nodes", "containers", "actions"}


def schema_differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def snapshot(url: str) -> tuple[set[str], list[tuple[str, str]], str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            ddl = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            ).all()
            version = connection.execute(
                text("SELECT version_num FROM alembic_version")
            ).scalar_one()
            return tables, [(row[0], row[1]) for row in ddl], version
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    migrate.upgrade(url)
    assert schema_differences(url) == []


def test_a_fresh_upgrade_creates_every_table_at_the_newest_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    migrate.upgrade(url)
    tables, _, version = snapshot(url)
    assert tables == TABLES
    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    assert version == head


def test_upgrading_twice_changes_nothing_and_keeps_the_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/twice.db"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (username, created_at) VALUES ('alice', '2014-10-16 12:04:08')")
        )
    engine.dispose()
    before = snapshot(url)

    migrate.upgrade(url)

    assert snapshot(url) == before
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT username FROM users")).scalars().all() == ["alice"]
    engine.dispose()
