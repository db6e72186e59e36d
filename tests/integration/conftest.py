"""Integration machinery: the real Docker Engine, a real Redis and the real processes.

A `Plane` is the reporter, one node agent and the API (gunicorn) run as subprocesses exactly as an
operator runs them (`controlplane reporter|agent|api`), against a dedicated Redis database that is
flushed before and after, and a fresh SQLite file. Docker is never mocked: tests read the real
containers back with their own docker-py client.

The session fixtures that start one plane (`plane`, `alice`, `bob`, `docker_client`, ...) live in
tests/conftest.py, so that tests/integration and tests/conformance share a single plane; the
classes and helpers stay here, where the tests import them from.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

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
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(BIN / "controlplane"), *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def restart(self) -> None:
        """Start the process again after `stop(keep_log=True)`, appending to the same log."""
        assert not self.alive()
        self.process = self._spawn()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig_timeout: float = 15, *, keep_log: bool = False) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(sig_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not keep_log:
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

    def node_state(self, node_uuid: str) -> str | None:
        """The node's state, None while it has not registered."""
        response = self.request("GET", f"/api/v1/node/{node_uuid}/")
        return str(response.json()["state"]) if response.status_code == 200 else None

    def wait_node_state(self, node_uuid: str, state: str, timeout: float = 60) -> None:
        wait_for(lambda: self.node_state(node_uuid) == state, timeout, interval=0.2)

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


@contextlib.contextmanager
def tolerating_socket_leaks() -> Iterator[None]:
    """websocket-client 0.59 (the version the SDKs' callbacks need, pinned for every test)
    leaves sockets of closed or refused connections to the garbage collector; their
    ResourceWarning is that library's, not a finding of the test. Collect them here, inside a
    filter, instead of at a random later test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()
