"""Private files: the SQLite database the app creates (and its WAL files) and the key and token
files the CLI writes are 0600 whatever the umask; an operator's own database file is left as
it is."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from controlplane.admincli import _write_secret
from controlplane.db import migrate
from controlplane.db.engine import Database, create_private_sqlite_file, sqlite_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The umask of a shell that would create files 0666 and directories 0777."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_a_database_the_app_creates_and_its_wal_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    database = Database(f"sqlite:///{path}")
    try:
        with database.session() as session:
            session.execute(text("CREATE TABLE t (x TEXT)"))
            session.commit()
        assert mode(path) == 0o600
        assert mode(path.with_name("cp.db-wal")) == 0o600
        assert mode(path.with_name("cp.db-shm")) == 0o600
    finally:
        database.dispose()


def test_a_database_the_migrations_create_is_private(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    migrate.upgrade(f"sqlite:///{path}")
    assert mode(path) == 0o600


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "cp.db"
    path.touch()
    path.chmod(0o640)
    create_private_sqlite_file(f"sqlite:///{path}")
    assert mode(path) == 0o640


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true",
     "postgresql+psycopg://cp@db/cp"],
)  # fmt: skip
def test_no_file_is_made_for_other_databases(url: str) -> None:
    assert sqlite_file(url) is None
    create_private_sqlite_file(url)  # nothing to do, and no error


def test_a_missing_directory_is_left_for_sqlite_to_report(tmp_path: Path) -> None:
    create_private_sqlite_file(f"sqlite:///{tmp_path}/missing/cp.db")
    assert not (tmp_path / "missing").exists()


def test_a_secret_file_and_its_new_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "agent" / "token"
    _write_secret(path, "t0ken")
    assert (mode(path.parent), mode(path), path.read_text()) == (0o700, 0o600, "t0ken\n")


def test_a_secret_file_left_readable_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "admin.key"
    path.write_text("old\n")
    path.chmod(0o644)
    _write_secret(path, "new")
    assert mode(path) == 0o600
