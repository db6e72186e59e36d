"""DockerDriver's connections to the Docker Engine socket (workers.docker.transport), against a
fake Engine API on a unix socket in a temporary directory (docker-py's own unit-test pattern: a
fake API, no Docker)."""

from __future__ import annotations

import json
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from workers.docker.driver import DockerDriver
from workers.inflight import Inflight

NODE_UUID = "6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01"


class FakeEngine(socketserver.ThreadingUnixStreamServer):
    """Answers /version, and 404 for every container; counts the connections it accepts."""

    daemon_threads = True

    def __init__(self, path: str) -> None:
        self.connections = 0
        super().__init__(path, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the Docker Engine does
    server: FakeEngine

    def setup(self) -> None:
        self.server.connections += 1
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.endswith("/version"):
            self._answer(200, {"ApiVersion": "1.41", "Version": "20.10.24"})
        else:
            self._answer(404, {"message": "No such container"})

    def _answer(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    with tempfile.TemporaryDirectory() as directory:
        server = FakeEngine(str(Path(directory) / "docker.sock"))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def test_requests_about_many_containers_reuse_one_connection(engine: FakeEngine) -> None:
    driver = DockerDriver(
        f"unix://{engine.server_address}", node_uuid=NODE_UUID, inflight=Inflight()
    )
    before = engine.connections  # the client asked the Engine its API version
    try:
        # Each container has URLs of its own; docker-py alone opens a connection for each.
        for number in range(40):
            assert driver.observe_id(f"container{number}") is None
    finally:
        driver.close()
    assert engine.connections - before == 1
