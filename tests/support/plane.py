"""The running control plane of a session: its processes, identities and settings.

`start_plane` is the body of the session's `plane` fixture (tests/conftest.py), and of the fault
suite's own plane (tests/faults), which runs on a Redis server of its own that its tests kill.
It refuses to start a second plane on one Redis database: their reporters would consume each
other's reports.

A plane keeps its records in a SQLite file of its own, or, with
`CONTROLPLANE_TEST_PLANE_DATABASE=postgres` (scripts/test.sh's PostgreSQL pass), in a fresh
database on the suite's PostgreSQL cluster (tests.support.postgres), dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import requests

from controlplane.celery_app import make_celery
from controlplane.core.signing import NodeToken
from controlplane.db.engine import Database
from controlplane.dispatch import Dispatcher
from controlplane.keyring import Keyring
from controlplane.settings import Settings
from tests.support.api import ApiClient, answers
from tests.support.containers import remove_node_containers
from tests.support.locations import BIN, DOCKER_URL, REDIS_URL
from tests.support.processes import Service, free_port
from tests.support.waiting import wait_for


class Plane:
    """The running control plane of this session: URLs, processes and identities."""

    def __init__(
        self,
        base_url: str,
        node_uuid: str,
        services: dict[str, Service],
        env: dict[str, str],
        keys: dict[str, str],
        state_dir: Path,
    ) -> None:
        self.base_url = base_url
        self.node_uuid = node_uuid
        self.services = services
        self.env = env
        self.keys = keys
        self.state_dir = state_dir
        # Where the session's reporter and agent serve their metrics (set by `start_plane`).
        self.metrics_urls: dict[str, str] = {}

    def enroll(self, name: str) -> tuple[str, str]:
        """Enroll a node called `name` as an operator would (`controlplane node add`); its
        uuid and the token its agent needs."""
        return enroll(self.env, name)

    def command(self, *args: str) -> str:
        """Run `controlplane ARGS...` as an operator would on this plane; its output."""
        return command(self.env, *args)

    @contextlib.contextmanager
    def dispatcher(self) -> Iterator[Dispatcher]:
        """The control plane's own dispatcher on this plane's broker and database: what it sends
        is sealed for the node as the API's is. Its database connections and broker pool are
        closed afterwards (left to the garbage collector, psycopg's warn in whatever test runs
        then)."""
        settings = Settings.from_env(self.env)
        database = Database(settings.database_url)
        celery = make_celery(settings)
        try:
            keyring = Keyring(database, settings.require_secret_key())
            yield Dispatcher(celery, keyring, node_timeout=settings.node_timeout)
        finally:
            celery.close()
            database.dispose()

    def client(self, username: str, base_url: str | None = None) -> ApiClient:
        return ApiClient(base_url or self.base_url, username, self.keys[username])

    def start_api(self, name: str, workers: int = 1, **env: str) -> str:
        """Start one more API process over the same database and broker, with `workers`
        gunicorn workers and `env` on top of the session's (e.g. other settings); returns its
        base URL once it answers. The session's teardown stops it with the others."""
        port = free_port()
        self._start(name, ["api", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)], env)
        base_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(base_url), timeout=60, interval=0.2)
        return base_url

    def start_reporter(self, name: str, **env: str) -> Service:
        """Start one more reporter over the same database and broker, as an operator runs a
        second one for redundancy, with `env` on top of the session's, once it consumes its
        queues; the session's teardown stops it with the others."""
        reporter = self._start(name, ["reporter"], env)
        wait_for(lambda: " ready." in reporter.log_path.read_text(errors="replace"), timeout=60)
        return reporter

    def stop(self, name: str) -> None:
        """Stop a process `start_api` or `start_reporter` started, and forget it."""
        self.services.pop(name).stop()

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> Service:
        assert name not in self.services, f"a second process named {name}"
        service = Service(name, args, {**self.env, **env}, self.state_dir)
        self.services[name] = service
        return service


def command(env: dict[str, str], *args: str) -> str:
    """`controlplane ARGS...` with the settings `env`; its output."""
    done = subprocess.run(
        [str(BIN / "controlplane"), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def enroll(env: dict[str, str], name: str) -> tuple[str, str]:
    """`controlplane node add name` on the plane whose settings are `env`: the node's uuid and
    its token."""
    token = command(env, "node", "add", name)
    return NodeToken.parse(token).node_uuid, token


# The plane this process runs, if any: there is at most one (see the module's docstring).
_running: list[Plane] = []

PLANE_DATABASE_VARIABLE = "CONTROLPLANE_TEST_PLANE_DATABASE"
BACKENDS = ("sqlite", "postgres")


def plane_backend() -> str:
    """The backend the live suites' planes store their records in (`sqlite` by default)."""
    backend = os.environ.get(PLANE_DATABASE_VARIABLE, "sqlite")
    if backend not in BACKENDS:
        raise AssertionError(f"{PLANE_DATABASE_VARIABLE}={backend!r}: expected one of {BACKENDS}")
    return backend


@contextlib.contextmanager
def plane_database(state: Path) -> Iterator[str]:
    """The URL of a new, empty database for a plane whose files are in `state`."""
    if plane_backend() == "sqlite":
        yield f"sqlite:///{state}/controlplane.db"
        return
    from tests.support import postgres

    url = postgres.create_database()
    try:
        yield url
    finally:
        postgres.drop_database(url)


@contextlib.contextmanager
def start_plane(
    state: Path,
    docker_client: docker.DockerClient,
    *,
    redis_url: str = REDIS_URL,
) -> Iterator[Plane]:
    """Migrate a fresh database (`plane_database`), create alice and bob, enroll a node, start
    the reporter, its agent and the API on `redis_url`, and yield the plane once its node is
    Deployed. Afterwards every process is stopped and every container of the node removed, pass
    or fail."""
    sharing = [plane for plane in _running if plane.env["CONTROLPLANE_BROKER_URL"] == redis_url]
    if sharing:
        raise AssertionError(
            f"a second plane on {redis_url} (the first one is at {sharing[0].base_url}): "
            "their reporters would consume each other's reports; the `plane` fixture is "
            "defined once, in tests/conftest.py"
        )
    with plane_database(state) as database_url:
        yield from _run_plane(state, docker_client, database_url, redis_url)


def _run_plane(
    state: Path, docker_client: docker.DockerClient, database_url: str, redis_url: str
) -> Iterator[Plane]:
    env = {
        **os.environ,
        "CONTROLPLANE_DATABASE_URL": database_url,
        "CONTROLPLANE_BROKER_URL": redis_url,
        "CONTROLPLANE_NODE_TIMEOUT": "10",
        "CONTROLPLANE_STOP_TIMEOUT": "5",
        "CONTROLPLANE_PAGE_SIZE": "25",
        "CONTROLPLANE_SECRET_KEY": secrets.token_urlsafe(32),
        "CONTROLPLANE_AGENT_BROKER_URL": redis_url,
        "CONTROLPLANE_AGENT_DOCKER_URL": DOCKER_URL,
        # The session's API and agent accept every option so each can be checked on Docker; the
        # defaults (refusing the dangerous ones) are checked against a second API
        # (test_container_options) and in tests/unit/test_node_policy.py.
        "CONTROLPLANE_ALLOW_DANGEROUS": "all",
        "CONTROLPLANE_AGENT_ALLOW_DANGEROUS": "all",
        "CONTROLPLANE_AGENT_PUBLISH_IP": "127.0.0.1",
        # A quick relist and a short deadline for stuck operations, so the tests of the repairs
        # (tests/integration/test_out_of_band.py) do not wait out the production defaults.
        "CONTROLPLANE_AGENT_RELIST_INTERVAL": "2",
        "CONTROLPLANE_STUCK_TIMEOUT": "20",
        # Orphans are collected within a relist or two (tests/integration/test_orphans.py).
        "CONTROLPLANE_ORPHAN_GRACE": "2",
        # A short lease, so tests/integration/test_nodes.py sees a silent node go Unreachable
        # quickly; agents beat more often than by default so a busy machine never loses one.
        "CONTROLPLANE_NODE_GRACE": "8",
        "CONTROLPLANE_AGENT_HEARTBEAT_INTERVAL": "2",
        # alice makes hundreds of containers a minute, and opens dozens of sockets, in the
        # suite; the caps have tests of their own (tests/unit/test_quotas.py, test_streams.py).
        "CONTROLPLANE_MAX_CONTAINERS_PER_USER": "1000000",
        "CONTROLPLANE_CREATES_PER_MINUTE": "1000000",
        "CONTROLPLANE_MAX_STREAMS_PER_USER": "1000",
    }
    command(env, "db", "upgrade")
    keys = {username: command(env, "user", "create", username) for username in ("alice", "bob")}
    node_uuid, token = enroll(env, "test-node-1")
    # The session's own agent; every other agent gets its token in its own environment.
    env["CONTROLPLANE_AGENT_TOKEN"] = token
    port, reporter_metrics, agent_metrics = free_port(), free_port(), free_port()
    # Only the session's reporter and agent serve metrics, on ports of their own: the other
    # agents and reporters the tests start share `env`, and would contend for the port.
    reporter_env = {**env, "CONTROLPLANE_REPORTER_METRICS_BIND": f"127.0.0.1:{reporter_metrics}"}
    agent_env = {**env, "CONTROLPLANE_AGENT_METRICS_BIND": f"127.0.0.1:{agent_metrics}"}
    services = {
        "reporter": Service("reporter", ["reporter"], reporter_env, state),
        "agent": Service("agent", ["agent"], agent_env, state),
        "api": Service("api", ["api", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env, state),
    }
    running = Plane(f"http://127.0.0.1:{port}", node_uuid, services, env, keys, state)
    running.metrics_urls = {
        "reporter": f"http://127.0.0.1:{reporter_metrics}/metrics",
        "agent": f"http://127.0.0.1:{agent_metrics}/metrics",
    }
    _running.append(running)
    try:
        admin = running.client("alice")

        def node_deployed() -> bool:
            try:
                nodes = admin.request("GET", "/api/v1/node/").json()["objects"]
            except (requests.ConnectionError, ValueError):
                return False
            return any(n["uuid"] == node_uuid and n["state"] == "Deployed" for n in nodes)

        try:
            wait_for(node_deployed, timeout=120, interval=0.2)
        except AssertionError:
            tails = "\n".join(f"--- {s.name} (tail)\n{s.tail(30)}" for s in services.values())
            raise AssertionError(f"the plane's node was not Deployed in 120 s\n{tails}") from None
        yield running
    finally:
        for service in services.values():
            service.stop()
        remove_node_containers(docker_client, node_uuid)
        _running.remove(running)
