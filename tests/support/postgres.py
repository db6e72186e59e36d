"""Throwaway PostgreSQL databases on the test suite's own cluster (scripts/bootstrap.sh).

scripts/test.sh exports `CONTROLPLANE_TEST_POSTGRES_URL`, an admin URL of that cluster; every
database made here is named `cp_test_...` and dropped by whoever made it. Without the URL a
PostgreSQL test skips, except under CI, where a missing backend must fail rather than pass
unseen.
"""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

ADMIN_URL_VARIABLE = "CONTROLPLANE_TEST_POSTGRES_URL"


def admin_url() -> str:
    """The cluster's admin URL (SQLAlchemy form); skips the test when there is none."""
    url = os.environ.get(ADMIN_URL_VARIABLE)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{ADMIN_URL_VARIABLE} is not set: scripts/test.sh sets it")
    pytest.skip(f"no PostgreSQL: {ADMIN_URL_VARIABLE} is not set (scripts/test.sh sets it)")


def _connect(database_url: str | None = None) -> psycopg.Connection:
    """An autocommit connection to the database of `database_url`, by default the admin's."""
    url = make_url(database_url or admin_url())
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    )


def create_database(template: str | None = None) -> str:
    """A new, empty (or `template`-copied) database; returns its SQLAlchemy URL."""
    name = f"cp_test_{uuid.uuid4().hex[:12]}"
    with _connect() as connection:
        copy = f" TEMPLATE {template}" if template else ""
        connection.execute(f"CREATE DATABASE {name}{copy}")
    return make_url(admin_url()).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the database of `url`, closing whatever sessions are still on it."""
    name = make_url(url).database
    assert name and name.startswith("cp_test_"), name
    with _connect() as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def empty_tables(url: str) -> None:
    """Empty every table of the database of `url` but Alembic's and restart its sequences, so
    that it is as its migrations left it. DELETE with the foreign-key triggers off (the suite
    connects as a superuser) takes milliseconds on a test's few rows, where TRUNCATE makes new
    files for every table and copying a template database writes the whole copy."""
    with _connect(url) as connection, connection.transaction():
        connection.execute("SET LOCAL session_replication_role = replica")
        for (table,) in connection.execute(
            "SELECT quote_ident(tablename) FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        ).fetchall():
            connection.execute(f"DELETE FROM {table}")
        for (sequence,) in connection.execute(
            "SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall():
            connection.execute(f"ALTER SEQUENCE {sequence} RESTART")


def database_name(url: str) -> str:
    name = make_url(url).database
    assert name
    return name
