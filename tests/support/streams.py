"""The websocket client side of the live streams (logs and events), and the socket leaks of
websocket-client 0.59 that the tests tolerate."""

from __future__ import annotations

import gc
import json
import struct
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import websocket

from tests.support.plane import Plane

WAIT = 30  # seconds a socket read may block before the test fails


def ws_url(plane: Plane, path: str, base_url: str | None = None) -> str:
    return (base_url or plane.base_url).replace("http://", "ws://", 1) + path


def auth_header(plane: Plane, username: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey {username}:{plane.keys[username]}"}


@contextmanager
def connect(
    plane: Plane, path: str, username: str | None = "alice", *, base_url: str | None = None
) -> Iterator[Any]:
    """A websocket to the session's API, or to the server at `base_url` (another API, a
    front)."""
    header = auth_header(plane, username) if username else {}
    ws = websocket.create_connection(ws_url(plane, path, base_url), header=header, timeout=WAIT)
    try:
        yield ws
    finally:
        close_client(ws)


def close_client(ws: Any) -> None:
    """Close politely, then for sure: after the server's close, websocket-client's close()
    returns early and leaves its socket open."""
    ws.close(timeout=1)
    ws.shutdown()


def next_message(ws: Any) -> dict[str, Any] | int:
    """The next JSON text frame, or the close code once the server closes (pings skipped)."""
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return _close_code(frame)
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return dict(json.loads(frame.data))


def read_to_close(ws: Any) -> tuple[list[dict[str, Any]], int]:
    frames = []
    while isinstance(message := next_message(ws), dict):
        frames.append(message)
    return frames, message


def close_code_within(ws: Any, seconds: float) -> int | None:
    """The close code the server sends within about `seconds` (frames and pings skipped), or
    None if the socket is still open then."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ws.settimeout(left)
        try:
            opcode, frame = ws.recv_data_frame(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return _close_code(frame)
    return None


def _close_code(frame: Any) -> int:
    return int(struct.unpack("!H", frame.data[:2])[0]) if len(frame.data) >= 2 else 1005


def read_until(ws: Any, found: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Frames up to and including the first one `found` accepts; fails if the socket closes."""
    frames: list[dict[str, Any]] = []
    while True:
        message = next_message(ws)
        assert isinstance(message, dict), f"closed ({message}) after {frames}"
        frames.append(message)
        if found(message):
            return frames


def is_about(uuid: str, kind: str, state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == kind and e["state"] == state and uuid in e["resource_uri"]


def changes_of(events: list[dict[str, Any]], uuid: str, kind: str = "container") -> list[str]:
    """The states an object's `update`/`delete` events carry, in order.

    Its `create` event is left out on purpose: a test creates the object and then opens the
    socket, and an API process may hand the creation's event (published before the socket
    opened, still on its way through the hub) to the new socket or not; both are correct for a
    best-effort stream, so a test must not count on either."""
    return [
        e["state"]
        for e in events
        if e["type"] == kind and uuid in e["resource_uri"] and e["action"] != "create"
    ]


@contextmanager
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
