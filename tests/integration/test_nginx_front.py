"""The production front shipped in docs/nginx/controlplane.conf, run by nginx in front of the
session's API: REST and the websocket streams pass through it, and slow clients against it
hold up nobody else's requests."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.nginx import nginx_front
from tests.support.plane import Plane
from tests.support.slowloris import SlowAttack, half_request_line
from tests.support.streams import connect, is_about, read_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("tolerate_socket_leaks")]


@pytest.fixture(scope="module")
def front(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nginx_front(tmp_path_factory.mktemp("nginx"), urlsplit(plane.base_url).netloc) as url:
        yield url


def test_rest_requests_pass_through_the_front(plane: Plane, front: str) -> None:
    alice = plane.client("alice", front)
    made = alice.create(name="through-nginx")
    assert made["resource_uri"] == f"/api/v1/container/{made['uuid']}/"
    listed = alice.request("GET", "/api/v1/container/", params={"name": "through-nginx"})
    assert [c["uuid"] for c in listed.json()["objects"]] == [made["uuid"]]
    assert alice.container(made["uuid"])["name"] == "through-nginx"
    # The API's own errors pass through as they are; the front's own are JSON too.
    assert alice.request("GET", "/api/v1/container/nope/").status_code == 404
    too_large = alice.request("POST", "/api/v1/container/", data=b"x" * (1024 * 1024 + 1))
    assert too_large.status_code == 413
    assert too_large.json()["code"] == "request entity too large"


@pytest.mark.parametrize("path", ["/v1/events/", "/api/audit/v1/alice/events/"])
def test_an_event_stream_passes_through_the_front(plane: Plane, front: str, path: str) -> None:
    alice = plane.client("alice", front)
    with connect(plane, path, base_url=front) as events:
        uuid = alice.create()["uuid"]
        assert read_until(events, is_about(uuid, "container", "Init"))[-1]["action"] == "create"


def test_slow_clients_against_the_front_hold_up_no_rest_request(plane: Plane, front: str) -> None:
    parts = urlsplit(front)
    assert parts.hostname is not None and parts.port is not None
    alice = plane.client("alice", front)
    with SlowAttack((parts.hostname, parts.port), 250, half_request_line):
        for _ in range(20):
            assert alice.request("GET", "/api/v1/container/").status_code == 200


def test_the_front_serves_metrics_to_loopback_only(front: str) -> None:
    served = requests.get(f"{front}/metrics", timeout=10)
    assert served.status_code == 200
    assert "controlplane_http_requests_total" in served.text
    # Another address of the host: Linux answers all of 127.0.0.0/8 on the loopback device.
    split = urlsplit(front)
    connection = http.client.HTTPConnection(
        split.hostname, split.port, timeout=10, source_address=("127.0.0.2", 0)
    )
    try:
        connection.request("GET", "/metrics")
        refused = connection.getresponse()
        assert refused.status == 403
        assert json.loads(refused.read())["code"] == "forbidden"
    finally:
        connection.close()
