"""What it means when a process cannot reach its database at start-up, in one sentence with a
hint: the `controlplane` command prints that instead of SQLAlchemy's traceback. A URL that names
no supported database is refused earlier, by the settings (`controlplane.settings`).

The URL is shown with its password hidden; the driver's own first line says what went wrong
(refused, unknown host, wrong password), which no rewording would say better.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError

# What to do when a driver a URL asks for is not installed.
DRIVERS = {
    "psycopg": "pip install 'controlplane[postgres]' (psycopg 3)",
    "psycopg2": "the control plane's PostgreSQL driver is psycopg 3: write the URL "
    "postgresql+psycopg://... and pip install 'controlplane[postgres]'",
}


def explain(exc: BaseException, url: str) -> str | None:
    """One sentence on `exc`, raised while reaching the database of `url`, or None if it is not
    a failure to reach it."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if isinstance(exc, ModuleNotFoundError) and exc.name in DRIVERS:
        return (
            f"the {parsed.get_backend_name()} driver {exc.name} is not installed, and "
            f"CONTROLPLANE_DATABASE_URL ({shown}) needs it: {DRIVERS[exc.name]}"
        )
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return None  # a constraint, a bug: not the database's reachability
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    if parsed.get_backend_name() == "sqlite":
        if "unable to open" not in reason:
            return f"the SQLite database {parsed.database} failed: {reason}"
        return (
            f"cannot open the SQLite database {parsed.database} ({reason}): does its directory "
            "exist, and may this user write in it?"
        )
    return (
        f"cannot use the database at {shown} ({reason}): is the server running, and do the "
        "host, port, user, password and database name of CONTROLPLANE_DATABASE_URL name it?"
    )
