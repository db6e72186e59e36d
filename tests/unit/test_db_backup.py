"""`controlplane db backup FILE`: a consistent copy of the SQLite database, made while it is
open for writing, private (0600), at the schema of the original, holding what was committed;
never over an existing file; PostgreSQL is left to pg_dump."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import text

from controlplane.cli import main
from controlplane.db import migrate, users
from controlplane.db.engine import Database


def run(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"CONTROLPLANE_DATABASE_URL": database_url})


def test_a_copy_made_while_a_write_is_open_holds_what_was_committed(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    assert run(database_url, "user", "create", "alice").exit_code == 0
    target = tmp_path / "backup.db"
    with database.session() as session:  # a write in progress, never committed
        session.execute(
            text("INSERT INTO users (username, created_at) VALUES ('ghost', '2026-01-01')")
        )
        copied = run(database_url, "db", "backup", str(target))
    assert (copied.exit_code, copied.output) == (0, f"database copied to {target}\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    check = sqlite3.connect(target)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    restored = Database(f"sqlite:///{target}")
    try:
        with restored.read_session() as session:
            assert migrate.is_current(session.connection())
            assert users.find_user(session, "alice") is not None
            assert users.find_user(session, "ghost") is None
    finally:
        restored.dispose()


def test_an_existing_file_is_never_overwritten(database_url: str, tmp_path: Path) -> None:
    target = tmp_path / "kept.db"
    target.write_text("precious")
    refused = run(database_url, "db", "backup", str(target))
    assert (refused.exit_code, target.read_text()) == (1, "precious")
    assert f"{target} exists; give a new file" in refused.output


def test_postgresql_is_left_to_pg_dump(tmp_path: Path) -> None:
    refused = run("postgresql+psycopg://cp@db.invalid/cp", "db", "backup", str(tmp_path / "x"))
    assert refused.exit_code == 1
    assert "copy PostgreSQL with pg_dump" in refused.output
    assert not (tmp_path / "x").exists()
