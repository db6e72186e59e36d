"""Slow clients against the real API process (`controlplane api`, controlplane.httpserver): 250
connections that start a request and never finish it hold no worker thread, so REST requests and
websocket streams from other clients are served while they are open, and the server closes them
once the read deadline (2 s here) has passed. Nor do 250 clients that leave their end open after
an answer the server closes stall the worker's main loop."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.api import ApiClient
from tests.support.plane import Plane
from tests.support.slowloris import (
    Opening,
    SlowAttack,
    closing_request_left_open,
    dripped_head,
    half_request_line,
    kept_alive_then_partial,
    read_until_closed,
    short_body,
)
from tests.support.streams import connect, is_about, read_until
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("tolerate_socket_leaks")]

DEADLINE = 2
ATTACKERS = 250
OPENINGS = {
    "half-request-line": (half_request_line, False),
    "dripped-head": (dripped_head, True),
    "short-body": (short_body, False),
    "kept-alive-then-partial": (kept_alive_then_partial, False),
    "closing-request-left-open": (closing_request_left_open, False),
}


@pytest.fixture(scope="module")
def api(plane: Plane) -> str:
    """An API of its own (one worker, the shipped thread count) with a short read deadline."""
    return plane.start_api("slowloris-api", CONTROLPLANE_REQUEST_READ_TIMEOUT=str(DEADLINE))


def address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


@pytest.fixture(params=OPENINGS, ids=list(OPENINGS))
def attack(request: pytest.FixtureRequest, api: str) -> Iterator[SlowAttack]:
    opening, drip = OPENINGS[request.param]
    with SlowAttack(address(api), ATTACKERS, opening, drip=drip) as running:
        yield running


def test_rest_requests_are_answered_while_slow_clients_hold_connections(
    attack: SlowAttack, api: str, plane: Plane
) -> None:
    alice = plane.client("alice", api)
    for _ in range(20):
        assert alice.request("GET", "/api/v1/container/").status_code == 200
    assert alice.request("GET", "/api/v1/node/").json()["meta"]["total_count"] >= 1


def test_a_websocket_stream_works_while_slow_clients_hold_connections(
    attack: SlowAttack, api: str, plane: Plane
) -> None:
    alice = plane.client("alice", api)
    with connect(plane, "/v1/events/", base_url=api) as events:
        uuid = alice.create()["uuid"]
        assert read_until(events, is_about(uuid, "container", "Init"))[-1]["action"] == "create"


@pytest.mark.parametrize("opening", [half_request_line, short_body, kept_alive_then_partial])
def test_a_request_not_whole_within_the_deadline_is_answered_408_and_closed(
    api: str, opening: Opening
) -> None:
    with socket.create_connection(address(api), timeout=30) as sock:
        opening(sock)
        answer = read_until_closed(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert json.loads(body)["code"] == "request timeout"


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(api: str) -> None:
    with socket.create_connection(address(api), timeout=30) as sock:
        assert read_until_closed(sock) == b""


@pytest.mark.parametrize("opening", [half_request_line, closing_request_left_open])
def test_the_attack_connections_are_closed_by_the_server_after_the_deadline(
    api: str, opening: Opening
) -> None:
    with SlowAttack(address(api), ATTACKERS, opening) as running:
        # Every connection is closed by the server once, then again as it is opened anew.
        wait_for(lambda: running.closed_by_server >= 2 * ATTACKERS, timeout=30, interval=0.2)


def test_a_chunked_body_is_refused_with_411_asking_for_a_content_length(
    alice: ApiClient, api: str
) -> None:
    response = requests.post(
        api + "/api/v1/container/",
        data=iter([b'{"image_name": "busybox"}']),
        headers={**alice.session.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 411
    assert response.json()["code"] == "length required"
