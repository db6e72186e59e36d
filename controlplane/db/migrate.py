"""Schema migrations: bring a database to the newest schema with Alembic.

The API, the reporter and the quick start call `upgrade` before serving, so an operator never runs
a separate step; `controlplane db upgrade` does the same by hand. Alembic serialises concurrent
upgrades through its version table, and an up-to-date database costs one query.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

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
