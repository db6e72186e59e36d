"""Schema migrations: bring a database to the newest schema with Alembic.

The API, the reporter and the quick start call `upgrade` before serving, so an operator never runs
a separate step; `controlplane db upgrade` does the same by hand. Alembic serialises concurrent
upgrades through its version table, and an up-to-date database costs one query.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from controlplane.db.engine import create_private_sqlite_file

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    # Alembic's engine would create a missing SQLite file with the umask's mode.
    create_private_sqlite_file(database_url)
    command.upgrade(alembic_config(database_url), "head")


@cache
def _heads() -> frozenset[str]:
    """The newest revisions this code's migrations know, read once per process."""
    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def is_current(connection: Connection) -> bool:
    """Whether the database of `connection` is at this code's newest schema: neither behind (an
    upgrade not run yet) nor ahead (a newer version of the control plane migrated it)."""
    return frozenset(MigrationContext.configure(connection).get_current_heads()) == _heads()
