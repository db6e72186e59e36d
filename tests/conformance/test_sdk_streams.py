"""The SDKs' own websocket calls against the plane: `Container.logs()` and the events streams.

Both SDKs hand log frames to the handler as raw strings; python-tutum's events handler gets
parsed dicts and python-dockercloud's raw strings (tutum-api.md §6.2, §7). `logs()` returns only
when the server closes, so every call here uses `follow=False`; the events loops never return on
their own, so each test ends them the way the SDK allows: python-tutum's from its handler (an
exception websocket-client does not swallow), python-dockercloud's with `_on_stop`, in the
main thread because it installs a SIGINT handler (§2.4 item 8).
"""

from __future__ import annotations

import json
import queue
import threading
import traceback
from typing import Any

import pytest
import websocket

from tests.conformance.sdk import Sdk, basic
from tests.support.plane import Plane
from tests.support.streams import changes_of, is_about

pytestmark = [
    pytest.mark.integration,
    pytest.mark.conformance,
    pytest.mark.usefixtures("tolerate_socket_leaks"),
]


PRINTS_BOTH = "sh -c 'echo to-stdout; echo to-stderr >&2; exec sleep 3600'"
SLEEPS = "sh -c 'exec sleep 3600'"


class StopStream(BaseException):
    """Raised by a test's handler to end an SDK's endless events loop: websocket-client swallows
    an Exception raised in a callback, but not a BaseException."""


def run_until_stopped(stream: Any) -> None:
    try:
        stream.run_forever()
    except StopStream as stop:
        close_sockets_of(stop)


def close_sockets_of(stop: StopStream) -> None:
    """Close the websocket the SDK's loop was reading when `stop` ended it. The loop keeps its
    WebSocketApp in a local, and a BaseException skips websocket-client's own teardown: left
    open, the socket lives on with the app's ping thread and meets the garbage collector in
    some later test, whose ResourceWarning then fails that test."""
    for frame, _ in traceback.walk_tb(stop.__traceback__):
        for value in frame.f_locals.values():
            if isinstance(value, websocket.WebSocketApp):
                value.close()


def test_logs_arrive_as_raw_frames_with_their_stream_and_the_call_returns(sdk: Sdk) -> None:
    container = sdk.Container.fetch(sdk.create(run_command=PRINTS_BOTH)["uuid"])
    container.start()
    sdk.wait_state(container, "Running")
    frames: list[str] = []

    def collect_until_both() -> None:
        frames.clear()
        container.logs(10, False, frames.append)

    collect_until_both()
    for _ in range(50):  # the process may not have printed both lines at the first call
        if len(frames) >= 2:
            break
        collect_until_both()
    parsed = [json.loads(frame) for frame in frames]
    assert all(isinstance(frame, str) for frame in frames)
    assert {(p["log"], p["streamType"]) for p in parsed} == {
        ("to-stdout\n", "stdout"),
        ("to-stderr\n", "stderr"),
    }
    assert all(p["type"] == "log" and isinstance(p["timestamp"], int) for p in parsed)
    container.delete()


def test_logs_with_bad_credentials_deliver_nothing_and_return(sdk: Sdk) -> None:
    container = sdk.Container.fetch(sdk.create(run_command=SLEEPS)["uuid"])
    sdk.authenticate(basic_auth=basic("alice", "not-the-key"))
    frames: list[str] = []
    container.logs(10, False, frames.append)
    assert frames == []


def test_python_tutum_events_report_a_start_as_parsed_dicts(tutum_sdk: Sdk) -> None:
    container = tutum_sdk.Container.fetch(tutum_sdk.create(run_command=SLEEPS)["uuid"])
    received: queue.Queue[Any] = queue.Queue()
    stream = tutum_sdk.module.TutumEvents()
    running = threading.Event()

    def handle(event: Any) -> None:
        received.put(event)
        if (
            event.get("type") == "container"
            and event.get("state") == "Running"
            and (container.uuid in event.get("resource_uri", ""))
        ):
            running.set()
            raise StopStream  # ends run_forever's loop; websocket-client lets it through

    stream.on_message(handle)
    opened = threading.Event()
    stream.on_open(opened.set)
    worker = threading.Thread(target=run_until_stopped, args=(stream,), daemon=True)
    worker.start()
    assert opened.wait(15)
    container.start()
    assert running.wait(30)
    worker.join(15)
    assert not worker.is_alive()

    events = list(received.queue)
    assert all(isinstance(event, dict) for event in events)
    assert changes_of(events, container.uuid) == ["Starting", "Running"]
    mine = [e for e in events if is_about(container.uuid, "container", "Starting")(e)]
    assert mine[0]["resource_uri"] == f"/api/v1/container/{container.uuid}/"


def test_python_tutum_events_raise_its_auth_error_on_bad_credentials(tutum_sdk: Sdk) -> None:
    tutum_sdk.authenticate(basic_auth=basic("alice", "not-the-key"))
    stream = tutum_sdk.module.TutumEvents()
    with pytest.raises(tutum_sdk.auth_error):
        stream.run_forever()


def test_python_dockercloud_events_report_a_start_as_raw_strings(
    dockercloud_sdk: Sdk, plane: Plane
) -> None:
    container = dockercloud_sdk.Container.fetch(dockercloud_sdk.create(run_command=SLEEPS)["uuid"])
    stream = dockercloud_sdk.module.Events()
    received: list[Any] = []

    def handle(message: Any) -> None:
        received.append(message)
        event = json.loads(message)
        if (
            event.get("type") == "container"
            and event.get("state") == "Running"
            and (container.uuid in event.get("resource_uri", ""))
        ):
            stream._on_stop(None, None)

    stream.on_message(handle)
    stream.on_open(lambda: threading.Thread(target=container.start, daemon=True).start())
    stream.run_forever()  # in the main thread, as the SDK requires; returns after _on_stop

    assert all(isinstance(message, str) for message in received)
    events = [json.loads(message) for message in received]
    assert changes_of(events, container.uuid) == ["Starting", "Running"]
    mine = [e for e in events if is_about(container.uuid, "container", "Starting")(e)]
    assert mine[0]["resource_uri"] == f"/api/app/v1/container/{container.uuid}/"
    assert all("uuid" in e and "datetime" in e for e in mine)


def test_python_dockercloud_events_raise_its_auth_error_on_a_refused_handshake(
    dockercloud_sdk: Sdk,
) -> None:
    dockercloud_sdk.authenticate(basic_auth=basic("alice", "not-the-key"))
    stream = dockercloud_sdk.module.Events()
    with pytest.raises(dockercloud_sdk.auth_error):
        stream.run_forever()
