"""The SDKs' own exec call, `Container.execute(cmd, handler)`, against the plane (docs/api.md
§6.8): python-tutum on `/v1/container/<uuid>/exec/`, python-dockercloud on
`/api/app/v1/container/<uuid>/exec/`, both with `?command=<quote_plus(cmd)>` and the credentials
in the header. The handler gets every frame as the raw string, and `execute()` returns when the
server closes the socket.

On Python 3 `execute()` fails before any request (`urllib.quote_plus`, tutum-api.md §2.4 item 6);
the tests that call it lend the SDKs that one name (`sdk_shim.allow_execute`) and change nothing
else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conformance import sdk_shim
from tests.conformance.sdk import Sdk

pytestmark = [
    pytest.mark.integration,
    pytest.mark.conformance,
    pytest.mark.usefixtures("tolerate_socket_leaks"),
]

SLEEPS = "sh -c 'exec sleep 3600'"


@pytest.fixture
def executable(monkeypatch: pytest.MonkeyPatch) -> None:
    sdk_shim.allow_execute(monkeypatch)


def running(sdk: Sdk) -> Any:
    container = sdk.Container.fetch(sdk.create(run_command=SLEEPS)["uuid"])
    container.start()
    return sdk.wait_state(container, "Running")


@pytest.mark.usefixtures("executable")
def test_execute_hands_the_handler_the_output_then_the_exit_code_and_returns(sdk: Sdk) -> None:
    container = running(sdk)
    frames: list[Any] = []
    container.execute('sh -c "echo hello; echo oops >&2; exit 3"', frames.append)
    assert all(isinstance(frame, str) for frame in frames)
    parsed = [json.loads(frame) for frame in frames]
    assert sorted(parsed[:-1], key=lambda f: f["streamType"]) == [
        {"type": "output", "output": "oops\n", "streamType": "stderr"},
        {"type": "output", "output": "hello\n", "streamType": "stdout"},
    ]
    assert parsed[-1] == {"type": "exit", "exitCode": 3, "output": "EOF"}
    container.delete()


@pytest.mark.usefixtures("executable")
def test_execute_in_a_stopped_container_hands_the_handler_the_error_frame(sdk: Sdk) -> None:
    container = running(sdk)
    container.stop()
    sdk.wait_state(container, "Stopped")
    frames: list[Any] = []
    container.execute("id", frames.append)
    [frame] = [json.loads(frame) for frame in frames]
    assert frame["type"] == "error"
    assert frame["data"]["code"] == "container-not-running-error"


@pytest.mark.usefixtures("executable")
def test_execute_with_bad_credentials_delivers_nothing_and_returns(sdk: Sdk) -> None:
    container = sdk.Container.fetch(sdk.create(run_command=SLEEPS)["uuid"])
    sdk.authenticate(verbatim="ApiKey alice:not-the-key")
    frames: list[Any] = []
    container.execute("id", frames.append)  # the handshake is refused with 401
    assert frames == []


def test_execute_fails_on_python_3_before_any_request(sdk: Sdk) -> None:
    container = sdk.Container.fetch(sdk.create(run_command=SLEEPS)["uuid"])
    with pytest.raises(AttributeError, match="quote_plus"):
        container.execute("id", print)
