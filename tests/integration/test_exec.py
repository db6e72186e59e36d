"""The exec websocket end to end: a real websocket client against the real API process, the node
agent running the command in a real Docker container through docker-py, the output coming back
on the exec's sealed channel (docs/api.md §6.5-§6.8).

The clients' own forms of the request are used as they send them: the Tutum CLI's query
credentials on `/v1/`, the Docker Cloud CLI's `exec/?&command=...`, and the SDKs' header."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus

import docker
import pytest
import redis
import websocket
from celery import Celery
from sqlalchemy import text

from controlplane.core import signing
from controlplane.core.messages import (
    TASK_EXEC,
    ExecRequest,
    exec_channel,
    exec_subject,
    node_queue,
)
from controlplane.core.signing import NodeToken
from controlplane.db.engine import Database
from tests.support.api import ApiClient
from tests.support.plane import Plane
from tests.support.streams import (
    WAIT,
    auth_header,
    close_client,
    connect,
    next_message,
    read_to_close,
    read_until,
    ws_url,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("tolerate_socket_leaks")]

SLEEPS = 'sh -c "exec sleep 3600"'
HELLO_EXIT_3 = 'sh -c "echo hello; exit 3"'
PATHS = {
    "tutum": "/v1/container/{uuid}/exec/",
    "tutum-rest": "/api/v1/container/{uuid}/exec/",
    "dockercloud": "/api/app/v1/container/{uuid}/exec/",
    "dockercloud-ns": "/api/app/v1/alice/container/{uuid}/exec/",
}


def running(client: ApiClient, command: str = SLEEPS) -> str:
    uuid = str(client.create(run_command=command)["uuid"])
    assert client.act(uuid, "start").status_code == 202
    client.wait_state(uuid, "Running")
    return uuid


def exec_path(uuid: str, command: str | None, tree: str = "tutum") -> str:
    path = PATHS[tree].format(uuid=uuid)
    return path if command is None else f"{path}?command={quote_plus(command)}"


def outputs(frames: list[dict[str, Any]]) -> dict[str, str]:
    """Each stream's output joined (a command's output may come in several frames)."""
    joined: dict[str, str] = {}
    for frame in frames:
        if frame["type"] == "output":
            joined[frame["streamType"]] = joined.get(frame["streamType"], "") + frame["output"]
    return joined


def run(plane: Plane, path: str, username: str | None = "alice") -> tuple[list[Any], int]:
    with connect(plane, path, username) as ws:
        return read_to_close(ws)


@pytest.fixture
def container(alice: ApiClient) -> str:
    return running(alice)


# --- what a command prints, and how it ended ---------------------------------------------------


@pytest.mark.parametrize("tree", list(PATHS))
def test_a_command_prints_hello_then_reports_its_exit_code_3(
    plane: Plane, container: str, tree: str
) -> None:
    frames, code = run(plane, exec_path(container, HELLO_EXIT_3, tree))
    assert frames[:-1] == [{"type": "output", "output": "hello\n", "streamType": "stdout"}]
    assert frames[-1] == {"type": "exit", "exitCode": 3, "output": "EOF"}
    assert code == 1000


def test_stdout_and_stderr_arrive_apart_and_a_clean_exit_is_0(plane: Plane, container: str) -> None:
    command = 'sh -c "echo to-out; echo to-err >&2; printf \\"%s\\" \\"no newline\\""'
    frames, code = run(plane, exec_path(container, command))
    assert outputs(frames) == {"stdout": "to-out\nno newline", "stderr": "to-err\n"}
    assert (frames[-1]["exitCode"], code) == (0, 1000)


def test_a_quiet_command_is_waited_for_and_ticks_keep_the_socket(
    plane: Plane, container: str
) -> None:
    # Longer than two ticks of the agent (5 s each): the API hears the ticks, not silence.
    frames, code = run(plane, exec_path(container, 'sh -c "sleep 11; echo late"'))
    assert outputs(frames) == {"stdout": "late\n"}
    assert (frames[-1]["exitCode"], code) == (0, 1000)


def test_a_program_that_is_not_there_is_dockers_exit_code_with_its_reason(
    plane: Plane, container: str
) -> None:
    frames, code = run(plane, exec_path(container, "no-such-program --help"))
    assert "no-such-program" in "".join(outputs(frames).values())
    assert frames[-1]["type"] == "exit" and frames[-1]["exitCode"] in (126, 127)
    assert code == 1000


def test_utf8_text_and_bytes_that_are_not_utf8_come_through_as_text(
    plane: Plane, container: str
) -> None:
    frames, _ = run(plane, exec_path(container, "printf 'h\\303\\251 \\377\\n'"))
    assert outputs(frames) == {"stdout": "hé \ufffd\n"}


# --- the clients' own forms of the request -----------------------------------------------------


def test_the_tutum_cli_form_with_query_credentials_and_no_header(
    plane: Plane, container: str
) -> None:
    key = plane.keys["alice"]
    for credentials in (f"user=alice&token={key}", f"auth={quote_plus(f'ApiKey alice:{key}')}"):
        path = f"/v1/container/{container}/exec/?{credentials}&command={quote_plus('echo hi')}"
        frames, code = run(plane, path, username=None)
        assert (outputs(frames), frames[-1]["exitCode"], code) == ({"stdout": "hi\n"}, 0, 1000)


def test_the_docker_cloud_cli_form_with_an_empty_first_query_pair(
    plane: Plane, container: str
) -> None:
    path = f"/api/app/v1/container/{container}/exec/?&command={quote_plus('echo hi')}"
    frames, code = run(plane, path)
    assert (outputs(frames), code) == ({"stdout": "hi\n"}, 1000)


def test_what_the_client_sends_is_dropped_the_command_has_no_stdin(
    plane: Plane, container: str
) -> None:
    """The CLIs send their stdin, key by key, then an EOT; the command reads end of file."""
    with connect(plane, exec_path(container, 'sh -c "sleep 1; cat; echo done"')) as ws:
        for keys in ("l", "s", "\n", "\x04"):
            ws.send(keys)
        frames, code = read_to_close(ws)
    assert (outputs(frames), frames[-1]["exitCode"], code) == ({"stdout": "done\n"}, 0, 1000)


# --- refused ---------------------------------------------------------------------------------


def test_another_users_container_is_a_404_at_the_handshake(
    plane: Plane, container: str, bob: ApiClient
) -> None:
    for tree in ("tutum", "dockercloud"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(
                ws_url(plane, exec_path(container, "id", tree)),
                header=auth_header(plane, "bob"),
                timeout=WAIT,
            )
        assert refused.value.status_code == 404
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            ws_url(plane, f"/api/app/v1/bob/container/{container}/exec/?command=id"),
            header=auth_header(plane, "alice"),
            timeout=WAIT,
        )
    assert refused.value.status_code == 404


def test_a_wrong_key_is_a_401_at_the_handshake(plane: Plane, container: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            ws_url(plane, exec_path(container, "id")),
            header={"Authorization": "ApiKey alice:not-the-key"},
            timeout=WAIT,
        )
    assert refused.value.status_code == 401


def error_of(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The error frame that ends an exec, checked for the shape the CLIs read."""
    [frame] = frames
    assert frame["type"] == "error" and frame["output"] == "EOF"
    return dict(frame["data"])


def test_a_stopped_container_is_refused_with_an_error_frame_and_nothing_runs(
    plane: Plane, alice: ApiClient, container: str, docker_client: docker.DockerClient
) -> None:
    assert alice.act(container, "stop").status_code == 202
    alice.wait_state(container, "Stopped")
    frames, code = run(plane, exec_path(container, "touch /tmp/ran"))
    error = error_of(frames)
    assert error["code"] == "container-not-running-error"
    assert "is Stopped" in error["errorMessage"]
    assert code == 1008
    frames, code = run(plane, exec_path(alice.create()["uuid"], "id"))  # never started: Init
    assert (error_of(frames)["code"], code) == ("container-not-running-error", 1008)
    [docker_container] = docker_client.containers.list(
        all=True, filters={"label": f"io.controlplane.container_uuid={container}"}
    )
    docker_container.start()
    assert docker_container.exec_run(["test", "-e", "/tmp/ran"]).exit_code == 1


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("", "is required"),
        ("?command=", "is required"),
        ("?command=+++", "is required"),
        ("?command=" + quote_plus('sh -c "echo'), "cannot be split"),
        ("?command=" + quote_plus('""'), "names no program"),
    ],
)
def test_a_bad_command_is_refused_with_an_error_frame_naming_the_field(
    plane: Plane, container: str, query: str, problem: str
) -> None:
    frames, code = run(plane, f"/v1/container/{container}/exec/{query}")
    error = error_of(frames)
    assert (error["code"], error["field"], code) == ("invalid-input-error", "command", 1008)
    assert problem in error["errorMessage"]


def test_a_command_past_the_request_line_limit_is_refused_by_the_server(
    plane: Plane, container: str
) -> None:
    """gunicorn refuses a request line over 4094 bytes before the app sees it, so the command's
    own cap (4096 bytes, checked in tests/unit/test_exec.py) is met only behind another server."""
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            ws_url(plane, exec_path(container, "echo " + "x" * 4096)),
            header=auth_header(plane, "alice"),
            timeout=WAIT,
        )
    assert refused.value.status_code == 414


@pytest.fixture
def database(plane: Plane) -> Iterator[Database]:
    database = Database(plane.env["CONTROLPLANE_DATABASE_URL"])
    yield database
    database.dispose()


def test_a_container_whose_node_is_not_deployed_is_refused_with_an_error_frame(
    plane: Plane, alice: ApiClient, database: Database
) -> None:
    """A node enrolled whose agent never reported stays Deploying; a record placed on it (moved
    there in the database) cannot reach Docker."""
    silent, _ = plane.enroll(f"silent-{time.monotonic_ns()}")
    uuid = alice.create()["uuid"]
    move = text(
        "UPDATE containers SET state = :state, node_id = (SELECT id FROM nodes WHERE uuid = :node)"
        " WHERE uuid = :uuid"
    )
    with database.session() as session:
        session.execute(move, {"state": "Running", "node": silent, "uuid": uuid})
        session.commit()
    try:
        frames, code = run(plane, exec_path(uuid, "id"))
    finally:
        with database.session() as session:
            session.execute(move, {"state": "Init", "node": plane.node_uuid, "uuid": uuid})
            session.commit()
    assert (error_of(frames)["code"], code) == ("node-unreachable-error", 1011)


# --- leaving, and what is left running ---------------------------------------------------------


def test_a_client_that_leaves_stops_the_stream_and_the_command_runs_on(
    plane: Plane, container: str, redis_db: redis.Redis, docker_client: docker.DockerClient
) -> None:
    agent_log = plane.services["agent"].log_path
    command = 'sh -c "echo started; exec sleep 47"'
    with connect(plane, exec_path(container, command)) as ws:
        assert read_until(ws, lambda f: f.get("output") == "started\n")
        started = re.search(rf"exec (\S+) in container {container}", agent_log.read_text())
        assert started is not None
        channel = exec_channel(started[1])
        assert redis_db.pubsub_numsub(channel) == [(channel.encode(), 1)]
    # The API drops its subscription when the client leaves; the agent's next tick reaches
    # nobody, and it stops reading the command's output.
    wait_for(lambda: redis_db.pubsub_numsub(channel) == [(channel.encode(), 0)])
    wait_for(lambda: f"exec {started[1]}: the listener is gone" in agent_log.read_text())
    [docker_container] = docker_client.containers.list(
        filters={"label": f"io.controlplane.container_uuid={container}"}
    )
    assert "sleep 47" in docker_container.exec_run(["ps"]).output.decode()


# --- the request to the node -------------------------------------------------------------------


@pytest.fixture
def raw(plane: Plane) -> Iterator[Celery]:
    from tests.support.broker import raw_client

    client = raw_client(plane.env["CONTROLPLANE_BROKER_URL"])
    yield client
    client.close()


@contextmanager
def listening(redis_db: redis.Redis, stream_id: str) -> Iterator[Any]:
    """A subscription to an exec's channel, taken before its request is sent: the agent runs
    nothing for a channel nobody listens to."""
    pubsub = redis_db.pubsub()
    pubsub.subscribe(exec_channel(stream_id))
    try:
        yield pubsub
    finally:
        pubsub.close()


def node_messages(
    pubsub: Any, token: NodeToken, stream_id: str, until: str, timeout: float = 30
) -> list[dict[str, Any]]:
    """The messages the node sealed on an exec's channel, read until one of kind `until`."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
        if raw is None:
            continue
        body, _ = signing.unseal(json.loads(raw["data"]), exec_subject(stream_id), token.key_for)
        seen.append(body["message"])
        if body["message"]["kind"] == until:
            return seen
    raise AssertionError(f"no {until!r} message on the channel within {timeout} s: {seen}")


def sealed_request(token: NodeToken, request: ExecRequest, **options: Any) -> dict[str, Any]:
    body = {"request": request.to_dict()}
    subject = f"{signing.TO_NODE}:{TASK_EXEC}"
    return {
        **body,
        signing.SEAL_FIELD: signing.seal(token.key, token.node_uuid, subject, body, **options),
    }


def test_a_replayed_stale_unsealed_or_misaddressed_request_runs_nothing(
    plane: Plane,
    container: str,
    raw: Celery,
    redis_db: redis.Redis,
    docker_client: docker.DockerClient,
) -> None:
    token = NodeToken.parse(plane.env["CONTROLPLANE_AGENT_TOKEN"])
    queue = node_queue(plane.node_uuid)
    agent_log = plane.services["agent"].log_path

    def request(name: str) -> ExecRequest:
        return ExecRequest(
            stream_id=f"{name}-{time.monotonic_ns()}",
            container_uuid=container,
            command=["sh", "-c", f"echo {name} >> /tmp/runs"],
        )

    # A request the control plane sealed runs once; the very same message sent again does not.
    once = request("once")
    kwargs = sealed_request(token, once)
    with listening(redis_db, once.stream_id) as channel:
        raw.send_task(TASK_EXEC, kwargs=kwargs, queue=queue)
        assert node_messages(channel, token, once.stream_id, "exit")[-1]["exit_code"] == 0
    with listening(redis_db, once.stream_id) as channel:
        raw.send_task(TASK_EXEC, kwargs=kwargs, queue=queue)
        [refused] = node_messages(channel, token, once.stream_id, "failed")
    assert "a replay" in refused["error"]

    stale = request("stale")
    old = {"now_ns": time.time_ns() - 2 * signing.SEAL_WINDOW_NS}
    with listening(redis_db, stale.stream_id) as channel:
        raw.send_task(TASK_EXEC, kwargs=sealed_request(token, stale, **old), queue=queue)
        [refused] = node_messages(channel, token, stale.stream_id, "failed")
    assert "outside the 300 s window" in refused["error"]

    unsealed = request("unsealed")
    raw.send_task(TASK_EXEC, kwargs={"request": unsealed.to_dict()}, queue=queue)
    other = NodeToken(node_uuid="0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b", key=token.key)
    misaddressed = request("misaddressed")
    raw.send_task(TASK_EXEC, kwargs=sealed_request(other, misaddressed), queue=queue)
    forged = request("forged")
    forger = NodeToken(node_uuid=token.node_uuid, key=b"f" * 32)
    raw.send_task(TASK_EXEC, kwargs=sealed_request(forger, forged), queue=queue)
    for reason in (
        "the message is not sealed",
        "node 0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b has no credential here",
        f"the seal does not match node {token.node_uuid}'s key",
    ):
        wait_for(lambda r=reason: f"refused a {TASK_EXEC} task: {r}" in agent_log.read_text())

    [docker_container] = docker_client.containers.list(
        filters={"label": f"io.controlplane.container_uuid={container}"}
    )
    runs = docker_container.exec_run(["cat", "/tmp/runs"]).output.decode()
    assert runs == "once\n"


def test_a_request_that_comes_after_its_socket_gave_up_runs_nothing(
    plane: Plane,
    container: str,
    raw: Celery,
    docker_client: docker.DockerClient,
) -> None:
    """Nobody listens on its channel: the agent opens the channel first, and stops there."""
    token = NodeToken.parse(plane.env["CONTROLPLANE_AGENT_TOKEN"])
    late = ExecRequest(
        stream_id=f"late-{time.monotonic_ns()}",
        container_uuid=container,
        command=["touch", "/tmp/late"],
    )
    raw.send_task(TASK_EXEC, kwargs=sealed_request(token, late), queue=node_queue(plane.node_uuid))
    agent_log = plane.services["agent"].log_path
    wait_for(lambda: f"exec {late.stream_id}: the listener is gone" in agent_log.read_text())
    [docker_container] = docker_client.containers.list(
        filters={"label": f"io.controlplane.container_uuid={container}"}
    )
    assert docker_container.exec_run(["test", "-e", "/tmp/late"]).exit_code == 1


def test_the_api_never_touched_docker_and_the_exec_ran_in_the_agent(
    plane: Plane, container: str
) -> None:
    """The request is logged by both ends; only the agent's process talks to Docker."""
    with connect(plane, exec_path(container, "echo from-the-agent")) as ws:
        frames, _ = read_to_close(ws)
    assert outputs(frames) == {"stdout": "from-the-agent\n"}
    api_log = plane.services["api"].log_path.read_text()
    found = re.findall(rf"exec (\S+) in container {container} by alice", api_log)
    assert found
    # The agent logs the exit once it has sent it, so the socket may close just before.
    agent_log = plane.services["agent"].log_path
    wait_for(lambda: f"exec {found[-1]}: exit code 0" in agent_log.read_text(), timeout=10)


def test_a_socket_is_answered_while_it_waits_and_the_next_message_is_its_close(
    plane: Plane, container: str
) -> None:
    ws = websocket.create_connection(
        ws_url(plane, exec_path(container, 'sh -c "sleep 2; echo ok"')),
        header=auth_header(plane, "alice"),
        timeout=WAIT,
    )
    try:
        ws.ping("still there?")
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert (opcode, frame.data) == (websocket.ABNF.OPCODE_PONG, b"still there?")
        assert next_message(ws) == {"type": "output", "output": "ok\n", "streamType": "stdout"}
        assert next_message(ws)["type"] == "exit"  # type: ignore[index]
        assert next_message(ws) == 1000
    finally:
        close_client(ws)
