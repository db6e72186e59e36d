"""Control-plane settings (API and reporter), parsed once from CONTROLPLANE_* variables.

Nothing is read at import time: `Settings.from_env` is called by the CLI or by a test that passes
its own environment, and the frozen result is handed to `create_app` and `make_celery`. The agent
has its own settings (`workers.settings`) and never sees the database URL.

CONTROLPLANE_ALLOW_DANGEROUS lists the dangerous container options (`controlplane.core.policy`) the
API accepts: a comma-separated subset of privileged, net_host, pid_host, devices, cap_add,
host_bindings and security_opt, or `all`. It is empty by default, so a create or a start that
uses any of them is refused with 403; an unknown name stops the process at start-up.

CONTROLPLANE_SECRET_KEY (or a file named by CONTROLPLANE_SECRET_KEY_FILE) is the key every node's
credential is derived from (`controlplane.core.signing`): at least 32 characters, the same in
every API and reporter process, and kept from the nodes. Nothing that talks to a node starts
without it (`Settings.require_secret_key`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from controlplane.core.environment import SettingsError, env_bind, env_flag, env_int
from controlplane.core.policy import parse_allowed

PREFIX = "CONTROLPLANE_"
MIN_SECRET_KEY_LENGTH = 32
# The databases the control plane runs on: what its migrations and its test suite cover.
DATABASE_BACKENDS = ("sqlite", "postgresql")
DATABASE_URL_EXAMPLES = (
    "sqlite:////var/lib/controlplane/controlplane.db or "
    "postgresql+psycopg://user:password@host:5432/name"
)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///controlplane.db"
    broker_url: str = "redis://127.0.0.1:6379/0"
    # How long the API waits for a node to answer a synchronous request (logs).
    node_timeout: int = 10
    # Seconds Docker waits after SIGTERM before SIGKILL when stopping a container.
    stop_timeout: int = 10
    page_size: int = 25
    max_page_size: int = 1000
    # Bytes of objects one list page holds at most; a page cut short says so (docs/api.md §3.1).
    max_page_bytes: int = 4 * 1024 * 1024
    # Redis redelivers an unacknowledged task after this many seconds; it must exceed the slowest
    # Docker call (a stop waits up to stop_timeout) or a slow task would run twice at once.
    visibility_timeout: int = 3600
    # Seconds without a heartbeat after which a node is Unreachable. Agents beat every 5 s, so
    # the default tolerates two lost beats and, with the sweep every grace/5, notices a lost
    # node within 18 s.
    node_grace: int = 15
    # Dangerous container options the operator allows; none unless named.
    allow_dangerous: frozenset[str] = frozenset()
    # Seconds a container may stay Starting/Stopping/Terminating before the relist settles it
    # from what its node shows; None: 2 × stop_timeout + 30.
    stuck_timeout: int | None = None
    # What the reporter does with an orphan (a labelled Docker container no live record owns):
    # "remove" it from its node, or only "report" it in the log for an operator to decide.
    orphans: str = "remove"
    # Seconds a Docker container must exist before it can be taken for an orphan.
    orphan_grace: int = 60
    # Per user: live (not Terminated) containers, and creates a minute (docs/operations.md §1.1).
    max_containers_per_user: int = 500
    creates_per_minute: int = 120
    # Websockets one user may hold open on one API process (api.websocket.StreamSlots).
    max_streams_per_user: int = 10
    # Seconds a client has to send a whole request (head and body) once its connection is
    # accepted or comes back from keep-alive; past it the connection is closed with a 408
    # (controlplane.httpserver), so a slow client never holds a worker thread.
    request_read_timeout: int = 10
    # The reporter obeys Celery's remote control, and sends task events (celeryconf.py).
    celery_remote_control: bool = False
    celery_task_events: bool = False
    # Where the reporter serves its Prometheus metrics; not served when None.
    reporter_metrics: tuple[str, int] | None = None
    # The key node credentials are derived from; empty when not configured. Never in a repr.
    secret_key: str = field(default="", repr=False)

    def require_secret_key(self) -> bytes:
        """The secret key, for the processes that sign and verify what crosses to the nodes.

        Raises:
            SettingsError: it is not set.
        """
        if not self.secret_key:
            raise SettingsError(
                f"{PREFIX}SECRET_KEY (or {PREFIX}SECRET_KEY_FILE) is not set: node credentials "
                "are derived from it; generate one with "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return self.secret_key.encode()

    @property
    def stuck_after(self) -> int:
        if self.stuck_timeout is not None:
            return self.stuck_timeout
        return 2 * self.stop_timeout + 30

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            database_url=_database_url(env.get(PREFIX + "DATABASE_URL") or defaults.database_url),
            broker_url=env.get(PREFIX + "BROKER_URL") or defaults.broker_url,
            node_timeout=env_int(env, PREFIX + "NODE_TIMEOUT", defaults.node_timeout, 1),
            stop_timeout=env_int(env, PREFIX + "STOP_TIMEOUT", defaults.stop_timeout),
            page_size=env_int(env, PREFIX + "PAGE_SIZE", defaults.page_size, 1),
            max_page_size=env_int(env, PREFIX + "MAX_PAGE_SIZE", defaults.max_page_size, 1),
            max_page_bytes=env_int(
                env, PREFIX + "MAX_PAGE_BYTES", defaults.max_page_bytes, 64 * 1024
            ),
            visibility_timeout=env_int(
                env, PREFIX + "VISIBILITY_TIMEOUT", defaults.visibility_timeout, 60
            ),
            node_grace=env_int(env, PREFIX + "NODE_GRACE", defaults.node_grace, 1),
            allow_dangerous=_allowed_options(env.get(PREFIX + "ALLOW_DANGEROUS", "")),
            stuck_timeout=env_int(env, PREFIX + "STUCK_TIMEOUT", -1, 1)
            if env.get(PREFIX + "STUCK_TIMEOUT")
            else None,
            orphans=_orphans(env.get(PREFIX + "ORPHANS") or defaults.orphans),
            orphan_grace=env_int(env, PREFIX + "ORPHAN_GRACE", defaults.orphan_grace, 1),
            max_containers_per_user=env_int(
                env, PREFIX + "MAX_CONTAINERS_PER_USER", defaults.max_containers_per_user, 1
            ),
            creates_per_minute=env_int(
                env, PREFIX + "CREATES_PER_MINUTE", defaults.creates_per_minute, 1
            ),
            max_streams_per_user=env_int(
                env, PREFIX + "MAX_STREAMS_PER_USER", defaults.max_streams_per_user, 1
            ),
            request_read_timeout=env_int(
                env, PREFIX + "REQUEST_READ_TIMEOUT", defaults.request_read_timeout, 1
            ),
            reporter_metrics=env_bind(env, PREFIX + "REPORTER_METRICS_BIND"),
            celery_remote_control=env_flag(env, PREFIX + "CELERY_REMOTE_CONTROL"),
            celery_task_events=env_flag(env, PREFIX + "CELERY_TASK_EVENTS"),
            secret_key=_secret_key(env),
        )


def _database_url(url: str) -> str:
    """The URL, if it names a database the control plane runs on. Anything else stops the
    process at start-up naming the variable (never the URL, which may hold a password), where
    it would otherwise end in a traceback from deep in SQLAlchemy at the first connection."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise SettingsError(
            f"{PREFIX}DATABASE_URL is not a database URL; give {DATABASE_URL_EXAMPLES}"
        ) from None
    if backend not in DATABASE_BACKENDS:
        raise SettingsError(
            f"{PREFIX}DATABASE_URL names a {backend} database, and the control plane runs on "
            f"SQLite or PostgreSQL; give {DATABASE_URL_EXAMPLES}"
        )
    return url


def _secret_key(env: Mapping[str, str]) -> str:
    key = env.get(PREFIX + "SECRET_KEY", "")
    path = env.get(PREFIX + "SECRET_KEY_FILE")
    if not key and path:
        try:
            key = Path(path).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"{PREFIX}SECRET_KEY_FILE: {exc}") from None
    if key and len(key) < MIN_SECRET_KEY_LENGTH:
        raise SettingsError(
            f"{PREFIX}SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters"
        )
    return key


ORPHAN_POLICIES = ("remove", "report")


def _orphans(text: str) -> str:
    if text not in ORPHAN_POLICIES:
        raise SettingsError(f"{PREFIX}ORPHANS must be one of {', '.join(ORPHAN_POLICIES)}")
    return text


def _allowed_options(text: str) -> frozenset[str]:
    try:
        return parse_allowed(text)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}ALLOW_DANGEROUS: {exc}") from None
