"""The exec stream's pure parts and its refusals, without services (docs/api.md §6.5-§6.8): the
command's splitting and cap, the messages and frames, the seals of the exec channel, the agent's
guard against stale and replayed requests, and the handshakes and refusals of the API.

Redis is a stand-in that keeps what it is given (`Wire`, `Nonces`), as in test_log_seals.py; the
end-to-end behaviour on real Docker is tests/integration/test_exec.py."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from controlplane.api import execstream
from controlplane.api.logchannels import ExecSubscription
from controlplane.api.serializers import exec_error_to_json, exec_exit_to_json, exec_output_to_json
from controlplane.app import create_app
from controlplane.core import signing
from controlplane.core.commands import MAX_COMMAND_BYTES, exec_arguments
from controlplane.core.errors import (
    BrokerUnavailableError,
    ContainerNotRunningError,
    ExecFailedError,
    InvalidInputError,
    NodeTimeoutError,
    NodeUnreachableError,
)
from controlplane.core.messages import (
    EXEC_EXIT,
    EXEC_OUTPUT,
    TASK_EXEC,
    TASK_LOGS_STREAM,
    ExecRequest,
    ExecStreamMessage,
    LogStreamMessage,
    exec_subject,
    log_subject,
)
from controlplane.core.signing import NodeToken, Seal, SealError
from controlplane.db import containers
from controlplane.db.models import Container, Node
from controlplane.settings import Settings
from tests.unit.helpers import Account, add_container, assert_error
from workers.execstream import ExecChannel, RequestGuard, RequestRefusedError, Utf8Streams
from workers.tasks import opened

NODE = NodeToken(node_uuid="6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01", key=b"k" * 32)
OTHER = NodeToken(node_uuid="0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b", key=b"o" * 32)
STREAM = "exec-1"
HANDSHAKE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "MDEyMzQ1Njc4OWFiY2RlZg==",
    "Sec-WebSocket-Version": "13",
}


# --- the command -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "arguments"),
    [
        ('sh -c "echo hello; exit 3"', ["sh", "-c", "echo hello; exit 3"]),
        ("ls -l /", ["ls", "-l", "/"]),
        # What `tutum exec` / `docker-cloud exec` send for `exec c sh -c 'echo "a b"'`: an
        # argument with a space in double quotes, its own double quotes escaped.
        ('sh -c "echo \\"a b\\""', ["sh", "-c", 'echo "a b"']),
        ("sh -c 'it''s'", ["sh", "-c", "its"]),
        ("  env  ", ["env"]),
    ],
)
def test_a_command_line_is_split_as_a_shell_splits_words(line: str, arguments: list[str]) -> None:
    assert exec_arguments(line) == arguments


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (None, "is required"),
        ("", "is required"),
        ("   ", "is required"),
        ('sh -c "echo', "cannot be split"),
        ("it's", "cannot be split"),
        ('""', "names no program"),
        ("echo \x00", "NUL"),
        ("x" * (MAX_COMMAND_BYTES + 1), f"at most {MAX_COMMAND_BYTES} bytes"),
        ("é" * (MAX_COMMAND_BYTES // 2 + 1), f"at most {MAX_COMMAND_BYTES} bytes"),
    ],
)
def test_a_missing_long_or_unsplittable_command_is_refused_naming_the_field(
    line: str | None, problem: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        exec_arguments(line)
    assert refused.value.field == "command"
    assert problem in refused.value.message


def test_a_command_of_exactly_the_cap_is_taken() -> None:
    assert exec_arguments("x" * MAX_COMMAND_BYTES) == ["x" * MAX_COMMAND_BYTES]


# --- messages and frames -----------------------------------------------------------------------


def test_exec_messages_round_trip_and_ignore_keys_a_newer_sender_adds() -> None:
    request = ExecRequest(stream_id=STREAM, container_uuid="c-1", command=["sh", "-c", "id"])
    assert ExecRequest.from_dict({**request.to_dict(), "tty": True}) == request
    message = ExecStreamMessage(kind=EXEC_EXIT, exit_code=3)
    assert ExecStreamMessage.from_dict(json.loads(json.dumps(message.to_dict()))) == message


def test_an_output_frame_carries_what_the_clis_print() -> None:
    message = ExecStreamMessage(kind=EXEC_OUTPUT, stream="stderr", text="oops\n")
    assert exec_output_to_json(message) == {
        "type": "output",
        "output": "oops\n",
        "streamType": "stderr",
    }


def test_the_exit_frame_has_no_stream_type_and_an_eof_output() -> None:
    """The CLIs print only frames with a `streamType`; the Go SDKs stop at `output` "EOF"."""
    assert exec_exit_to_json(3) == {"type": "exit", "exitCode": 3, "output": "EOF"}


def test_an_error_frame_is_in_the_shape_the_clis_read_with_its_code_and_field() -> None:
    assert exec_error_to_json(InvalidInputError("command", "is required")) == {
        "type": "error",
        "data": {
            "errorMessage": "command: is required",
            "code": "invalid-input-error",
            "field": "command",
        },
        "output": "EOF",
    }
    frame = exec_error_to_json(ContainerNotRunningError(uuid="c-1", state="Stopped"))
    assert frame["data"] == {
        "errorMessage": "container c-1 is Stopped: a command can only be run in a Running "
        "container",
        "code": "container-not-running-error",
    }


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInputError("command", "is required"), 1008),
        (ContainerNotRunningError(uuid="c", state="Stopped"), 1008),
        (NodeUnreachableError(node="n", state="Unreachable"), 1011),
        (BrokerUnavailableError(detail="down"), 1011),
        (NodeTimeoutError(node="n", seconds=15), 1011),
        (ExecFailedError(detail="Docker said no"), 1011),
    ],
)
def test_what_the_client_can_change_closes_1008_and_anything_else_1011(
    error: Any, code: int
) -> None:
    """Not 1013: websocket-client before 1.0 takes it for a protocol error."""
    assert execstream.close_code(error) == code


# --- the exec channel's seals -------------------------------------------------------------------


class Wire:
    """Stands in for Redis pub/sub: what is published is what the subscriber gets next."""

    def __init__(self) -> None:
        self.published: list[bytes] = []

    def publish(self, channel: str, data: str) -> int:
        self.published.append(data.encode())
        return 1

    def get_message(self, *, ignore_subscribe_messages: bool, timeout: float) -> Any:
        return {"data": self.published.pop(0)} if self.published else None


def reader(wire: Wire) -> ExecSubscription:
    return ExecSubscription(wire, stream_id=STREAM, node_uuid=NODE.node_uuid, key=NODE.key)  # type: ignore[arg-type]


def output(text: str) -> ExecStreamMessage:
    return ExecStreamMessage(kind=EXEC_OUTPUT, stream="stdout", text=text)


def test_the_nodes_output_and_exit_arrive_in_order() -> None:
    wire = Wire()
    sender = ExecChannel(wire, STREAM, NODE)  # type: ignore[arg-type]
    subscription = reader(wire)
    sent = [output("one"), output("two"), ExecStreamMessage(kind=EXEC_EXIT, exit_code=0)]
    for message in sent:
        sender.send(message)
    assert [subscription.get(0) for _ in range(4)] == [*sent, None]


def sealed_as(subject: str, body: dict[str, Any], token: NodeToken = NODE) -> bytes:
    return json.dumps(signing.sealed(token.key, token.node_uuid, subject, body)).encode()


@pytest.mark.parametrize(
    "data",
    [
        json.dumps({"message": output("unsealed").to_dict(), "seq": 0}).encode(),
        sealed_as(exec_subject(STREAM), {"message": output("x").to_dict(), "seq": 0}, OTHER),
        sealed_as(exec_subject("exec-2"), {"message": output("another exec").to_dict(), "seq": 0}),
        # The node's own log line, sealed for a log stream of the same id, is no exec output.
        sealed_as(
            log_subject(STREAM),
            {"message": LogStreamMessage(kind="line", text="log").to_dict(), "seq": 0},
        ),
        b"not json",
    ],
)
def test_a_message_the_node_did_not_seal_for_this_exec_is_dropped(data: bytes) -> None:
    wire = Wire()
    wire.published.append(data)
    assert reader(wire).get(0) is None


def test_a_repeated_message_is_dropped() -> None:
    wire = Wire()
    sender = ExecChannel(wire, STREAM, NODE)  # type: ignore[arg-type]
    subscription = reader(wire)
    sender.send(output("once"))
    wire.published.append(wire.published[0])
    assert [subscription.get(0), subscription.get(0)] == [output("once"), None]


# --- the agent: which requests run -------------------------------------------------------------


class Nonces:
    """Stands in for Redis' SET NX EX: a key is set once; `down` makes every call fail."""

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        self.down = False

    def set(self, key: str, value: bytes, *, nx: bool, ex: int) -> bool | None:
        if self.down:
            raise redis.ConnectionError("Redis is down")
        if nx and key in self.keys:
            return None
        self.keys[key] = ex
        return True


def request_seal(*, sealed_ns: int | None = None, token: NodeToken = NODE) -> Seal:
    body = {"request": ExecRequest(STREAM, "c-1", ["id"]).to_dict()}
    message = {
        **body,
        signing.SEAL_FIELD: signing.seal(
            token.key, token.node_uuid, f"{signing.TO_NODE}:{TASK_EXEC}", body, now_ns=sealed_ns
        ),
    }
    return opened(token, TASK_EXEC, message)[1]


def guard(nonces: Nonces, *, now_ns: int | None = None) -> RequestGuard:
    clock = (lambda: now_ns) if now_ns is not None else time.time_ns
    return RequestGuard(nonces, NODE.node_uuid, clock_ns=clock)  # type: ignore[arg-type]


def test_a_fresh_request_runs_once_and_its_copy_is_refused() -> None:
    nonces = Nonces()
    sealed = request_seal()
    guard(nonces).admit(sealed)
    assert list(nonces.keys.values()) == [600]  # two seal windows
    with pytest.raises(RequestRefusedError, match="a replay"):
        guard(nonces).admit(sealed)  # another agent process: Redis remembers


def test_a_copy_is_refused_by_the_agents_own_memory_even_if_redis_forgot() -> None:
    nonces = Nonces()
    sealed = request_seal()
    admitting = guard(nonces)
    admitting.admit(sealed)
    nonces.keys.clear()  # a broker client deleted the key
    with pytest.raises(RequestRefusedError, match="a replay"):
        admitting.admit(sealed)


@pytest.mark.parametrize("skew_s", [-301, 301])
def test_a_request_sealed_outside_the_window_of_the_nodes_clock_is_refused(skew_s: int) -> None:
    sealed = request_seal(sealed_ns=time.time_ns() + skew_s * 1_000_000_000)
    with pytest.raises(RequestRefusedError, match="outside the 300 s window"):
        guard(Nonces()).admit(sealed)


def test_a_request_whose_nonce_cannot_be_kept_does_not_run() -> None:
    nonces = Nonces()
    nonces.down = True
    with pytest.raises(RequestRefusedError, match="could not be recorded"):
        guard(nonces).admit(request_seal())


def test_an_exec_is_opened_only_from_a_seal_the_control_plane_made_for_an_exec_on_this_node() -> (
    None
):
    body = {"request": ExecRequest(STREAM, "c-1", ["id"]).to_dict()}
    for subject, token in [
        (f"{signing.TO_NODE}:{TASK_LOGS_STREAM}", NODE),  # a log-stream request's seal
        (f"{signing.FROM_NODE}:{TASK_EXEC}", NODE),  # the other direction
        (f"{signing.TO_NODE}:{TASK_EXEC}", OTHER),  # another node's
    ]:
        message = signing.sealed(token.key, token.node_uuid, subject, body)
        with pytest.raises(SealError):
            opened(NODE, TASK_EXEC, message)
    with pytest.raises(SealError, match="not sealed"):
        opened(NODE, TASK_EXEC, body)


def test_output_is_decoded_across_the_frames_that_cut_a_character() -> None:
    text = Utf8Streams()
    word = "héllo".encode()
    assert text.decode("stdout", word[:2]) + text.decode("stdout", word[2:]) == "héllo"
    assert text.decode("stderr", b"\xff\n") == "\ufffd\n"
    assert text.decode("stdout", b"\xc3") == ""
    assert text.decode("stdout", b"", final=True) == "\ufffd"


# --- the API: refused at the handshake, or on the socket ---------------------------------------


def exec_paths(uuid: str, username: str) -> list[str]:
    return [
        f"/v1/container/{uuid}/exec/?command=id",
        f"/api/v1/container/{uuid}/exec/?command=id",
        f"/api/app/v1/container/{uuid}/exec/?command=id",
        f"/api/app/v1/{username}/container/{uuid}/exec/?command=id",
    ]


@pytest.fixture
def running(session: Session, account: Account, node: str) -> str:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    session.execute(update(Container).where(Container.uuid == uuid).values(state="Running"))
    session.commit()
    return uuid


def test_an_exec_without_good_credentials_is_refused_at_the_handshake_with_401(
    client: FlaskClient, account: Account, running: str
) -> None:
    for path in exec_paths(running, account.username):
        assert_error(client.get(path, headers=HANDSHAKE), 401)
        wrong = {**HANDSHAKE, "Authorization": f"ApiKey {account.username}:wrong"}
        assert_error(client.get(path, headers=wrong), 401)


def test_another_users_or_an_unknown_container_is_refused_at_the_handshake_with_404(
    client: FlaskClient, account: Account, make_account: Any, running: str
) -> None:
    bob = make_account("bob")
    for path in exec_paths(running, bob.username):
        assert_error(client.get(path, headers={**HANDSHAKE, **bob.headers}), 404)
    unknown = exec_paths("00000000-0000-4000-8000-000000000000", account.username)
    for path in unknown:
        assert_error(client.get(path, headers={**HANDSHAKE, **account.headers}), 404)
    theirs = f"/api/app/v1/{bob.username}/container/{running}/exec/?command=id"
    assert_error(client.get(theirs, headers={**HANDSHAKE, **account.headers}), 404)


def test_an_exec_past_the_users_stream_cap_is_refused_with_429(
    settings: Settings, account: Account, running: str
) -> None:
    """Execs count with the log and events streams against the caller's cap (docs/api.md §1.3)."""
    app = create_app(settings, TESTING=False, STREAM_SLOTS=5)
    slots = app.extensions["controlplane"].stream_slots
    try:
        for _ in range(slots.per_user):
            slots.take_user_slot(account.user_id)
        path = f"/v1/container/{running}/exec/?command=id"
        response = app.test_client().get(path, headers={**HANDSHAKE, **account.headers})
        assert_error(response, 429)
        assert response.get_json()["code"] == "user-stream-capacity-error"
    finally:
        app.extensions["controlplane"].database.dispose()


def test_a_plain_get_on_an_exec_path_is_a_json_400(
    client: FlaskClient, account: Account, running: str
) -> None:
    for path in exec_paths(running, account.username):
        assert_error(client.get(path, headers=account.headers), 400)


def refusal(app: Flask, session: Session, uuid: str, query: str) -> Exception | None:
    """What the exec of `uuid` with `query` is refused with on its open socket, if anything."""
    session.expire_all()
    owner_id = session.get_one(Container, _id_of(session, uuid)).owner_id
    container = containers.get_container(session, owner_id=owner_id, uuid=uuid)
    with app.test_request_context(f"/v1/container/{uuid}/exec/{query}"):
        try:
            execstream._request_for(container)
        except (InvalidInputError, ContainerNotRunningError, NodeUnreachableError) as exc:
            return exc
    return None


def _id_of(session: Session, uuid: str) -> int:
    return int(session.scalars(select(Container.id).where(Container.uuid == uuid)).one())


def test_the_command_then_the_state_then_the_node_are_checked(
    app: Flask, session: Session, running: str, node: str
) -> None:
    assert refusal(app, session, running, "?command=id") is None
    assert isinstance(refusal(app, session, running, "?command="), InvalidInputError)
    session.execute(update(Container).where(Container.uuid == running).values(state="Stopped"))
    session.commit()
    stopped = refusal(app, session, running, "?command=id")
    assert isinstance(stopped, ContainerNotRunningError) and "is Stopped" in str(stopped)
    assert isinstance(refusal(app, session, running, "?command="), InvalidInputError)
    session.execute(update(Container).where(Container.uuid == running).values(state="Running"))
    session.execute(update(Node).where(Node.uuid == node).values(state="Unreachable"))
    session.commit()
    assert isinstance(refusal(app, session, running, "?command=id"), NodeUnreachableError)
    session.execute(update(Container).where(Container.uuid == running).values(state="Stopped"))
    session.commit()
    assert isinstance(refusal(app, session, running, "?command=id"), ContainerNotRunningError)


def test_a_paused_container_takes_no_command(app: Flask, session: Session, running: str) -> None:
    session.execute(update(Container).where(Container.uuid == running).values(paused=True))
    session.commit()
    paused = refusal(app, session, running, "?command=id")
    assert isinstance(paused, ContainerNotRunningError) and "is paused" in str(paused)


def test_a_node_failure_message_becomes_the_error_it_stands_for() -> None:
    failed = ExecStreamMessage(
        kind="failed", error="container c is exited", code="container-not-running-error"
    )
    assert isinstance(execstream._failure(failed), ContainerNotRunningError)
    docker = ExecStreamMessage(
        kind="failed", error="start the exec: boom", code="exec-failed-error"
    )
    error = execstream._failure(docker)
    assert isinstance(error, ExecFailedError)
    assert error.message == "the node could not run the command: start the exec: boom"
