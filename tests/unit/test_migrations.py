"""The migrations build exactly the schema the models declare, upgrading is idempotent, and
the migrations that rebuild or fill tables keep the rows they find, on SQLite and on
PostgreSQL alike (each test runs on a fresh empty database of each)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Column, create_engine, inspect, select, text
from sqlalchemy.orm import Session

from controlplane.db import migrate
from controlplane.db.models import Base, Container

TABLES = {
    "alembic_version",
    "users",
    "api_keys",
    "nodes",
    "containers",
    "actions",
    "services",
    "stacks",
}


def different_default(
    context: MigrationContext,
    inspected_column: object,
    metadata_column: Column[object],
    inspected_default: str | None,
    metadata_default: object,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Alembic compares PostgreSQL defaults by asking the server `SELECT a = b`, which has no
    operator for JSON: compare those as text (`'[]'::json` is `'[]'`); Alembic does the rest."""
    if isinstance(metadata_column.type, JSON) and inspected_default is not None:
        return inspected_default.removesuffix("::json") != rendered_metadata_default
    return None


def schema_differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "compare_server_default": different_default},
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or one on the suite's PostgreSQL cluster."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/cp.db"
        return
    from tests.support import postgres

    created = postgres.create_database()
    yield created
    postgres.drop_database(created)


# The schema as each backend itself describes it, one line per table, column, index or key.
SCHEMA_QUERIES = {
    "sqlite": ["SELECT name || ': ' || sql FROM sqlite_master WHERE sql IS NOT NULL"],
    "postgresql": [
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable"
        " || ' ' || coalesce(column_default, '') FROM information_schema.columns"
        " WHERE table_schema = 'public'",
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace",
    ],
}


def snapshot(url: str) -> tuple[set[str], list[str], str]:
    """The tables, the whole schema and the revision."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            schema = sorted(
                line
                for query in SCHEMA_QUERIES[engine.dialect.name]
                for line in connection.execute(text(query)).scalars()
            )
            version = connection.execute(
                text("SELECT version_num FROM alembic_version")
            ).scalar_one()
            return tables, schema, version
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(url: str) -> None:
    migrate.upgrade(url)
    assert schema_differences(url) == []


def test_a_fresh_upgrade_creates_every_table_at_the_newest_revision(url: str) -> None:
    migrate.upgrade(url)
    tables, _, version = snapshot(url)
    assert tables == TABLES
    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    assert version == head


def test_upgrading_twice_changes_nothing_and_keeps_the_data(url: str) -> None:
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


def test_a_container_made_before_the_options_reads_as_made_without_them(url: str) -> None:
    command.upgrade(migrate.alembic_config(url), "0001")
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in OLD_ROWS:
            connection.execute(text(statement))
    engine.dispose()

    migrate.upgrade(url)

    engine = create_engine(url)
    with Session(engine) as session:
        container = session.scalars(select(Container)).one()
        assert (container.net, container.pid, container.autodestroy) == ("bridge", "none", "OFF")
        assert (container.privileged, container.tty, container.memory_swap) == (False, False, None)
        assert container.container_ports == container.bindings == container.bound_ports == []
        assert container.cpuset == container.mac_address == ""
    engine.dispose()


def test_the_options_migration_can_be_undone(url: str) -> None:
    migrate.upgrade(url)
    command.downgrade(migrate.alembic_config(url), "0001")
    engine = create_engine(url)
    with engine.connect() as connection:
        columns = {column["name"] for column in inspect(connection).get_columns("containers")}
    engine.dispose()
    assert "net" not in columns and "bound_ports" not in columns
    assert "autorestart" in columns
    migrate.upgrade(url)
    assert schema_differences(url) == []


OLD_ROWS = [
    "INSERT INTO users (id, username, created_at) VALUES (1, 'alice', '2014-10-16 12:04:08')",
    "INSERT INTO nodes (id, uuid, name, state, docker_version, cpu, memory_mb, observed_ns,"
    " deployed_datetime, last_seen) VALUES (1, 'n', 'node-1', 'Deployed', '27', 2, 2048, 1,"
    " '2014-10-16 12:04:08', '2014-10-16 12:04:08')",
    "INSERT INTO containers (uuid, owner_id, node_id, name, unique_name, image_name, state,"
    " entrypoint, working_dir, container_envvars, labels, autorestart, created_at)"
    " VALUES ('c', 1, 1, 'web', 'web-c', 'busybox:latest', 'Init', '', '', '[]', '{}', 'OFF',"
    " '2014-10-16 12:04:08')",
]


def test_the_services_migration_keeps_containers_and_their_actions(url: str) -> None:
    command.upgrade(migrate.alembic_config(url), "0008")
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in OLD_ROWS:
            connection.execute(text(statement))
        connection.execute(
            text(
                "INSERT INTO actions (uuid, owner_id, container_id, name, operation, method,"
                " path, user_agent, ip, body, state, start_date) VALUES ('a', 1, 1,"
                " 'Container Create', 'create', 'POST', '/', '', '', '', 'Success',"
                " '2014-10-16 12:04:08')"
            )
        )
    engine.dispose()

    migrate.upgrade(url)

    engine = create_engine(url)
    with engine.begin() as connection:
        row = connection.execute(
            text("SELECT c.uuid FROM actions a JOIN containers c ON a.container_id = c.id")
        ).one()
        assert row == ("c",)
        # Unique names are per owner now: another owner may hold the same one.
        connection.execute(
            text(
                "INSERT INTO users (id, username, created_at)"
                " VALUES (2, 'bob', '2014-10-16 12:04:08')"
            )
        )
        connection.execute(text(OLD_ROWS[2].replace("'c', 1,", "'c2', 2,")))
        if url.startswith("sqlite"):  # PostgreSQL checks every key as the rows go in
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
    engine.dispose()
