"""The websocket streams end to end, with a real websocket client against the real API process,
the node agent streaming real Docker logs, and the reporter producing real events."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from urllib.parse import quote_plus

import docker
import pytest
import redis
import websocket

from controlplane.api.base import KEY_RECHECK_SECONDS
from tests.support.api import ApiClient
from tests.support.plane import Plane
from tests.support.streams import (
    WAIT,
    auth_header,
    changes_of,
    close_client,
    close_code_within,
    connect,
    is_about,
    read_to_close,
    read_until,
    ws_url,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("tolerate_socket_leaks")]

PRINTS_BOTH = 'sh -c "echo out-line; echo err-line >&2; exec sleep 3600"'
WAITS_FOR_GO = (
    'sh -c "echo first; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo after-connect; '
    'exec sleep 3600"'
)


def running(alice: ApiClient, command: str) -> str:
    uuid = str(alice.create(run_command=command)["uuid"])
    assert alice.act(uuid, "start").status_code == 202
    alice.wait_state(uuid, "Running")
    return uuid


# --- logs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v1/container/{uuid}/logs/", "/api/app/v1/alice/container/{uuid}/logs/"],
    ids=["tutum", "dockercloud"],
)
def test_a_log_tail_without_follow_sends_both_streams_then_closes(
    alice: ApiClient, plane: Plane, path: str
) -> None:
    uuid = running(alice, PRINTS_BOTH)
    wait_for(lambda: "err-line" in alice.logs(uuid))

    with connect(plane, path.format(uuid=uuid) + "?follow=false&tail=10") as ws:
        frames, code = read_to_close(ws)
    assert code == 1000
    assert {(f["streamType"], f["log"]) for f in frames} == {
        ("stdout", "out-line\n"),
        ("stderr", "err-line\n"),
    }
    assert all(f["type"] == "log" and isinstance(f["timestamp"], int) for f in frames)

    with connect(plane, path.format(uuid=uuid) + "?follow=false&tail=1") as ws:
        frames, code = read_to_close(ws)
    assert (len(frames), code) == (1, 1000)
    # A plain GET of the REST twin of the path (the same path on Docker Cloud) answers as before.
    rest = alice.request(
        "GET", path.format(uuid=uuid).replace("/v1/container", "/api/v1/container")
    )
    assert rest.status_code == 200 and "out-line" in rest.json()["logs"]


def test_a_follower_gets_lines_printed_after_it_connected_and_ends_with_the_container(
    alice: ApiClient, plane: Plane, docker_client: docker.DockerClient
) -> None:
    uuid = running(alice, WAITS_FOR_GO)
    with connect(plane, f"/v1/container/{uuid}/logs/?follow=true") as ws:
        first = read_until(ws, lambda f: f["log"] == "first\n")
        assert [f["streamType"] for f in first] == ["stdout"]

        [container] = docker_client.containers.list(
            filters={"label": f"io.controlplane.container_uuid={uuid}"}
        )
        container.exec_run(["touch", "/tmp/go"])
        later = read_until(ws, lambda f: f["log"] == "after-connect\n")
        assert [f["log"] for f in later] == ["after-connect\n"]

        assert alice.act(uuid, "terminate").status_code == 202
        frames, code = read_to_close(ws)
    assert (frames, code) == ([], 1000)


def test_a_follower_that_leaves_is_unsubscribed_and_its_agent_stream_stops(
    alice: ApiClient, plane: Plane, redis_db: redis.Redis
) -> None:
    uuid = running(alice, WAITS_FOR_GO)
    agent_log = plane.services["agent"].log_path
    with connect(plane, f"/v1/container/{uuid}/logs/") as ws:
        read_until(ws, lambda f: f["log"] == "first\n")
        started = re.search(rf"log stream (\S+) of container {uuid}", agent_log.read_text())
        assert started is not None
        channel = f"controlplane.logs.{started[1]}"
        assert redis_db.pubsub_numsub(channel) == [(channel.encode(), 1)]
    # The API drops its subscription when the client leaves; the agent's next publish (a tick,
    # the container being quiet) reaches nobody, and the agent ends the stream.
    wait_for(lambda: redis_db.pubsub_numsub(channel) == [(channel.encode(), 0)])
    wait_for(lambda: f"log stream {started[1]}: the listener is gone" in agent_log.read_text())


def test_a_log_stream_of_a_container_that_never_ran_closes_at_once(
    alice: ApiClient, plane: Plane
) -> None:
    uuid = alice.create()["uuid"]
    with connect(plane, f"/v1/container/{uuid}/logs/") as ws:
        assert read_to_close(ws) == ([], 1000)


def test_a_log_stream_accepts_the_older_query_credentials(alice: ApiClient, plane: Plane) -> None:
    uuid = running(alice, PRINTS_BOTH)
    wait_for(lambda: "err-line" in alice.logs(uuid))
    auth = quote_plus(f"ApiKey alice:{plane.keys['alice']}")
    for credentials in (f"auth={auth}", f"user=alice&token={plane.keys['alice']}"):
        path = f"/v1/container/{uuid}/logs/?follow=false&{credentials}"
        with connect(plane, path, username=None) as ws:
            frames, code = read_to_close(ws)
        assert (len(frames), code) == (2, 1000)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/container/{uuid}/logs/?tail=abc", 400),
        ("/v1/container/{uuid}/logs/?follow=maybe", 400),
        ("/v1/container/{uuid}/logs/?tail=-5&follow=", 400),
        ("/api/app/v1/bob/container/{uuid}/logs/", 404),
        ("/v1/container/00000000-0000-4000-8000-000000000000/logs/", 404),
        ("/v1/container/not-a-uuid/logs/", 404),
    ],
)
def test_a_bad_log_handshake_is_refused_and_the_server_carries_on(
    alice: ApiClient, plane: Plane, path: str, status: int
) -> None:
    uuid = alice.create()["uuid"]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            ws_url(plane, path.format(uuid=uuid)), header=auth_header(plane, "alice"), timeout=WAIT
        )
    assert refused.value.status_code == status
    assert plane.services["api"].alive()
    assert alice.container(uuid)["state"] == "Init"


def test_another_users_container_log_stream_is_a_404(
    alice: ApiClient, bob: ApiClient, plane: Plane
) -> None:
    uuid = alice.create()["uuid"]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(
            ws_url(plane, f"/v1/container/{uuid}/logs/"),
            header=auth_header(plane, "bob"),
            timeout=WAIT,
        )
    assert refused.value.status_code == 404


# --- events ------------------------------------------------------------------------------------


def test_a_start_is_streamed_as_container_and_action_events_in_each_tree(
    alice: ApiClient, plane: Plane
) -> None:
    uuid = alice.create(run_command=PRINTS_BOTH)["uuid"]
    with (
        connect(plane, "/v1/events") as tutum,
        connect(plane, "/api/audit/v1/alice/events") as dockercloud,
    ):
        started = alice.act(uuid, "start")
        assert started.status_code == 202
        action_uuid = started.headers["X-Tutum-Action-URI"].rstrip("/").rsplit("/", 1)[-1]

        events = read_until(tutum, is_about(uuid, "container", "Running"))
        assert changes_of(events, uuid) == ["Starting", "Running"]
        containers = [e for e in events if is_about(uuid, "container", "Starting")(e)]
        assert containers[0]["resource_uri"] == f"/api/v1/container/{uuid}/"
        assert containers[0]["action"] == "update"
        assert containers[0]["parents"] == [f"/api/v1/node/{plane.node_uuid}/"]
        assert "uuid" not in containers[0] and "datetime" not in containers[0]
        events += read_until(tutum, is_about(action_uuid, "action", "Success"))
        actions = [e for e in events if e["type"] == "action" and action_uuid in e["resource_uri"]]
        assert [(e["action"], e["state"]) for e in actions] == [
            ("create", "Pending"),
            ("update", "In progress"),
            ("update", "Success"),
        ]
        assert actions[0]["resource_uri"] == f"/api/v1/action/{action_uuid}/"
        assert actions[0]["parents"] == [f"/api/v1/container/{uuid}/"]

        cloud = read_until(dockercloud, is_about(uuid, "container", "Running"))
        running_event = cloud[-1]
        assert running_event["resource_uri"] == f"/api/app/v1/alice/container/{uuid}/"
        assert running_event["parents"] == [f"/api/infra/v1/alice/node/{plane.node_uuid}/"]
        assert running_event["datetime"].endswith("Z") and running_event["uuid"]

        assert alice.act(uuid, "terminate").status_code == 202
        gone = read_until(tutum, is_about(uuid, "container", "Terminated"))
        assert gone[-1]["action"] == "delete"


def test_a_user_sees_only_their_own_events(alice: ApiClient, bob: ApiClient, plane: Plane) -> None:
    with connect(plane, "/api/audit/v1/events", username="bob") as bobs:
        alices = alice.create(run_command=PRINTS_BOTH)["uuid"]
        assert alice.act(alices, "start").status_code == 202
        alice.wait_state(alices, "Running")
        # Events reach a socket in the order they were published, so once bob hears of his own
        # container, anything of alice's he could have been sent has arrived before it.
        bobs_own = bob.create()["uuid"]
        seen = read_until(bobs, is_about(bobs_own, "container", "Init"))
    assert not [e for e in seen if alices in json.dumps(e)]
    assert all(e["type"] in ("container", "action", "node") for e in seen)


def test_events_accept_the_older_query_credentials(alice: ApiClient, plane: Plane) -> None:
    path = f"/v1/events?user=alice&token={plane.keys['alice']}"
    with connect(plane, path, username=None) as ws:
        uuid = alice.create()["uuid"]
        assert read_until(ws, is_about(uuid, "container", "Init"))[-1]["action"] == "create"


@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/"])
def test_tutum_events_answer_bad_credentials_with_an_error_frame(plane: Plane, path: str) -> None:
    header = {"Authorization": "ApiKey alice:not-the-key"}
    ws = websocket.create_connection(ws_url(plane, path), header=header, timeout=WAIT)
    try:
        frames, code = read_to_close(ws)
    finally:
        close_client(ws)
    assert frames == [{"type": "error", "data": {"errorMessage": "UNAUTHORIZED"}}]
    assert code == 1008


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/audit/v1/events", 401),
        ("/api/audit/v1/events/", 401),
        ("/api/audit/v1/alice/events", 401),
        ("/api/audit/v1/events?user=alice&token=wrong", 401),
    ],
)
def test_docker_cloud_events_refuse_bad_credentials_at_the_handshake(
    plane: Plane, alice: ApiClient, path: str, status: int
) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url(plane, path), timeout=WAIT)
    assert refused.value.status_code == status
    assert alice.request("GET", "/api/v1/node/").status_code == 200


def test_an_events_socket_stays_open_and_answers_pings(alice: ApiClient, plane: Plane) -> None:
    with connect(plane, "/api/audit/v1/events") as ws:
        ws.ping("are you there")
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert (opcode, frame.data) == (websocket.ABNF.OPCODE_PONG, b"are you there")
        uuid = alice.create()["uuid"]
        assert read_until(ws, is_about(uuid, "container", "Init"))


def test_a_stream_ends_once_the_key_that_opened_it_is_revoked(plane: Plane) -> None:
    """Revoking a key (`controlplane key revoke`) closes the streams it opened, within the
    API's recheck interval, with 1008; the user's other keys go on working."""
    name = f"revoked-{secrets.token_hex(4)}"
    doomed = plane.command("user", "create", name).strip()
    kept = plane.command("key", "create", name).strip()
    header = {"Authorization": f"ApiKey {name}:{doomed}"}
    ws = websocket.create_connection(
        ws_url(plane, f"/api/audit/v1/{name}/events"), header=header, timeout=WAIT
    )
    try:
        fingerprint = hashlib.sha256(doomed.encode()).hexdigest()[:12]
        said = plane.command("key", "revoke", name, fingerprint)
        assert said.strip() == f"revoked 1 key of {name}"
        code = close_code_within(ws, 3 * KEY_RECHECK_SECONDS)
    finally:
        close_client(ws)
    assert code == 1008
    listing = "/api/v1/container/"
    assert ApiClient(plane.base_url, name, doomed).request("GET", listing).status_code == 401
    assert ApiClient(plane.base_url, name, kept).request("GET", listing).status_code == 200
