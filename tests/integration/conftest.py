"""Integration fixtures: the real Docker Engine, a real Redis and the real processes.

One session starts the reporter, one node agent and the API (gunicorn) as subprocesses exactly
as an operator would (`controlplane reporter|agent|api`), against a dedicated Redis database that
is flushed before and after, and a fresh SQLite file. Docker is never mocked: tests read the real
containers back with their own docker-py client, and every container the session's node made is
removed after each test (by the node label), even when the test fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import redis
import requests

from controlplane.messages import LABEL_NODE_UUID

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE = "controlplane/busybox:latest"
REDIS_URL = os.environ.get("CONTROLPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DOCKER_URL = "unix:///var/run/docker.sock"


def wait_for(condition: Callable[[], Any], timeout: float = 20, interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A controlplane process run the way an operator runs it, with its log kept for failures."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "controlplane"), *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig_timeout: float = 15) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(sig_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class ApiClient:
    """A thin HTTP client for one user; returns raw responses so tests check status codes."""

    def __init__(self, base_url: str, username: str, key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"ApiKey {username}:{key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=30, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("image_name", IMAGE)
        response = self.request("POST", "/api/v1/container/", json=fields)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def container(self, uuid: str) -> dict[str, Any]:
        response = self.request("GET", f"/api/v1/container/{uuid}/")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def act(self, uuid: str, action: str) -> requests.Response:
        if action == "terminate":
            return self.request("DELETE", f"/api/v1/container/{uuid}/")
        return self.request("POST", f"/api/v1/container/{uuid}/{action}/")

    def logs(self, uuid: str, **params: Any) -> str:
        response = self.request("GET", f"/api/v1/container/{uuid}/logs/", params=params)
        assert response.status_code == 200, response.text
        return str(response.json()["logs"])

    def action(self, uri: str) -> dict[str, Any]:
        response = self.request("GET", uri)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_state(self, uuid: str, state: str, timeout: float = 30) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            body = self.container(uuid)
            return body if body["state"] == state else None

        return dict(wait_for(reached, timeout))

    def wait_action(self, uri: str, timeout: float = 30) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            body = self.action(uri)
            return body if body["state"] in ("Success", "Failed") else None

        return dict(wait_for(finished, timeout))


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

    def client(self, username: str, base_url: str | None = None) -> ApiClient:
        return ApiClient(base_url or self.base_url, username, self.keys[username])

    def start_api(self, name: str, **env: str) -> str:
        """Start one more API process over the same database and broker, with `env` on top of
        the session's (e.g. other settings); returns its base URL once it answers. The
        session's teardown stops it with the others."""
        port = free_port()
        self.services[name] = Service(
            name,
            ["api", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            {**self.env, **env},
            self.state_dir,
        )
        base_url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                requests.get(base_url + "/api/v1/node/", timeout=5)
            except requests.ConnectionError:
                return False
            return True

        wait_for(answers, timeout=60, interval=0.2)
        return base_url


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=DOCKER_URL)
    client.ping()
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client: docker.DockerClient) -> str:
    subprocess.run(
        ["bash", str(ROOT / "scripts/bootstrap.sh"), "image"],
        check=True,
        env={**os.environ, "CP_IMAGE": IMAGE},
    )
    docker_client.images.get(IMAGE)
    return IMAGE


@pytest.fixture(scope="session")
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _remove_node_containers(client: docker.DockerClient, node_uuid: str) -> None:
    for container in client.containers.list(
        all=True, filters={"label": f"{LABEL_NODE_UUID}={node_uuid}"}
    ):
        container.remove(force=True, v=True)


@pytest.fixture(scope="session")
def plane(
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
    image: str,
    redis_db: redis.Redis,
) -> Iterator[Plane]:
    state = tmp_path_factory.mktemp("plane")
    node_uuid = str(uuid.uuid4())
    env = {
        **os.environ,
        "CONTROLPLANE_DATABASE_URL": f"sqlite:///{state}/controlplane.db",
        "CONTROLPLANE_BROKER_URL": REDIS_URL,
        "CONTROLPLANE_NODE_TIMEOUT": "10",
        "CONTROLPLANE_STOP_TIMEOUT": "5",
        "CONTROLPLANE_PAGE_SIZE": "25",
        # The session's API accepts every option so each can be checked on Docker; the default
        # (refusing the dangerous ones) is checked against a second API (test_container_options).
        "CONTROLPLANE_ALLOW_DANGEROUS": "all",
        "CONTROLPLANE_AGENT_BROKER_URL": REDIS_URL,
        "CONTROLPLANE_AGENT_NODE_UUID": node_uuid,
        "CONTROLPLANE_AGENT_NODE_NAME": "test-node-1",
        "CONTROLPLANE_AGENT_DOCKER_URL": DOCKER_URL,
        "CONTROLPLANE_AGENT_STATE_DIR": str(state / "agent"),
        "CONTROLPLANE_AGENT_PUBLISH_IP": "127.0.0.1",
    }
    controlplane = str(BIN / "controlplane")
    subprocess.run([controlplane, "db", "upgrade"], env=env, check=True, capture_output=True)
    keys = {}
    for username in ("alice", "bob"):
        created = subprocess.run(
            [controlplane, "user", "create", username],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        keys[username] = created.stdout.strip()
    port = free_port()
    services = {
        "reporter": Service("reporter", ["reporter"], env, state),
        "agent": Service("agent", ["agent"], env, state),
        "api": Service("api", ["api", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env, state),
    }
    running = Plane(f"http://127.0.0.1:{port}", node_uuid, services, env, keys, state)
    try:
        admin = running.client("alice")

        def node_deployed() -> bool:
            try:
                nodes = admin.request("GET", "/api/v1/node/").json()["objects"]
            except (requests.ConnectionError, ValueError):
                return False
            return any(n["uuid"] == node_uuid and n["state"] == "Deployed" for n in nodes)

        wait_for(node_deployed, timeout=60, interval=0.2)
        yield running
    finally:
        for service in services.values():
            service.stop()
        _remove_node_containers(docker_client, node_uuid)


@pytest.fixture
def alice(plane: Plane) -> ApiClient:
    return plane.client("alice")


@pytest.fixture
def bob(plane: Plane) -> ApiClient:
    return plane.client("bob")


@pytest.fixture(autouse=True)
def _cleanup_containers(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient
) -> Iterator[None]:
    """Remove every Docker container the test's node made, pass or fail."""
    yield
    if "plane" in request.fixturenames:
        plane: Plane = request.getfixturevalue("plane")
        _remove_node_containers(docker_client, plane.node_uuid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of each service log to a failed test, where the cause usually is."""
    report = yield
    if report.failed and "plane" in getattr(item, "fixturenames", ()):
        plane = item.funcargs.get("plane") if hasattr(item, "funcargs") else None
        if plane is not None:
            for name, service in plane.services.items():
                report.sections.append((f"{name} log (tail)", service.tail()))
    return report
