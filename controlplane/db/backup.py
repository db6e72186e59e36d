"""An online copy of a SQLite database (`controlplane db backup`): SQLite's backup API copies
every page under a read transaction, so the API and the reporter go on writing meanwhile, and
the copy is one consistent database (its writes of the WAL included), unlike a `cp` of the
file, which may catch it mid-checkpoint and leaves out the `-wal` file. A PostgreSQL database
is `pg_dump`'s to copy (docs/operations.md §12)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from controlplane.db.engine import sqlite_file


class BackupRefusedError(Exception):
    """The copy cannot be made: the reason is the message."""


def backup_sqlite(database_url: str, target: Path) -> None:
    """Copy the SQLite database of `database_url` into a new file `target`, mode 0600.

    Raises:
        BackupRefusedError: not a SQLite file, or `target` exists.
    """
    source = sqlite_file(database_url)
    if source is None:
        raise BackupRefusedError(
            "only a SQLite database is copied this way; copy PostgreSQL with pg_dump"
        )
    if not Path(source).exists():
        raise BackupRefusedError(f"there is no SQLite database at {source}")
    try:  # made 0600 before SQLite writes a byte: it holds keys' digests and the containers' env
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupRefusedError(f"{target} exists; give a new file") from None
    reading = sqlite3.connect(source)  # reads only; read-only mode cannot open a WAL file
    writing = sqlite3.connect(target)
    try:
        reading.backup(writing)
    finally:
        writing.close()
        reading.close()
