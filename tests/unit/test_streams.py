"""The websocket streams' pure parts (credentials, frames) and the handshakes they refuse,
through the Flask test client: a refusal is an ordinary JSON answer given before any upgrade."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from controlplane.api.serializers import event_to_json, log_line_to_json
from controlplane.api.trees import DOCKERCLOUD, TUTUM, Links
from controlplane.api.websocket import StreamSlots
from controlplane.apiserver import stream_slots
from controlplane.app import create_app
from controlplane.core.checks import parse_bool
from controlplane.core.credentials import Credentials, stream_credentials
from controlplane.core.errors import (
    InvalidInputError,
    StreamCapacityError,
    UserStreamCapacityError,
)
from controlplane.core.messages import Event, LogStreamMessage
from controlplane.db import nodes
from controlplane.db.engine import Database, utcnow
from controlplane.db.models import Container
from controlplane.settings import Settings
from tests.unit.helpers import Account, assert_error, create

HANDSHAKE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
    "Sec-WebSocket-Version": "13",
}
ALICE = Credentials("alice", "k3y")
BASIC = "Basic " + base64.b64encode(b"alice:k3y").decode()


def handshake(client: FlaskClient, url: str, **headers: str) -> Any:
    return client.get(url, headers={**HANDSHAKE, **headers})


# --- credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "query"),
    [
        ("ApiKey alice:k3y", {}),
        (BASIC, {}),
        (None, {"auth": "ApiKey alice:k3y"}),
        (None, {"auth": "Apikey alice:k3y"}),
        (None, {"auth": BASIC}),
        (None, {"user": "alice", "token": "k3y"}),
    ],
)
def test_a_stream_accepts_the_header_and_both_query_forms(
    header: str | None, query: dict[str, str]
) -> None:
    assert stream_credentials(header, query) == ALICE


def test_a_basic_auth_query_value_survives_a_plus_decoded_as_a_space() -> None:
    # base64 of "alice:~~~" ends in "+"; an unencoded "+" in a query reads back as a space.
    value = "Basic " + base64.b64encode(b"alice:~~~").decode()
    assert value.endswith("+")
    assert stream_credentials(None, {"auth": value.replace("+", " ")}) == Credentials(
        "alice", "~~~"
    )


def test_the_header_wins_over_the_query() -> None:
    assert stream_credentials("ApiKey alice:k3y", {"user": "bob", "token": "x"}) == ALICE


@pytest.mark.parametrize(
    "query",
    [{}, {"user": "alice"}, {"token": "k3y"}, {"auth": ""}, {"auth": "Bearer x"}, {"user": ""}],
)
def test_incomplete_or_unknown_stream_credentials_are_none(query: dict[str, str]) -> None:
    assert stream_credentials(None, query) is None


# --- frames ------------------------------------------------------------------------------------

EVENT = Event(
    type="container",
    action="update",
    uuid="e-1",
    object_uuid="c-1",
    state="Running",
    datetime="2026-01-01T00:00:00Z",
    owner_id=1,
    parents=[["node", "n-1"]],
)


def test_a_tutum_event_names_objects_in_the_tutum_tree_without_event_identity() -> None:
    assert event_to_json(EVENT, Links(TUTUM), with_identity=False) == {
        "type": "container",
        "action": "update",
        "state": "Running",
        "resource_uri": "/api/v1/container/c-1/",
        "parents": ["/api/v1/node/n-1/"],
    }


def test_a_docker_cloud_event_carries_its_uuid_date_and_namespaced_uris() -> None:
    body = event_to_json(EVENT, Links(DOCKERCLOUD, "alice"), with_identity=True)
    assert body["resource_uri"] == "/api/app/v1/alice/container/c-1/"
    assert body["parents"] == ["/api/infra/v1/alice/node/n-1/"]
    assert (body["uuid"], body["datetime"]) == ("e-1", "2026-01-01T00:00:00Z")


def test_an_action_event_points_at_the_audit_tree_and_its_container() -> None:
    action = Event(
        type="action",
        action="create",
        uuid="e-2",
        object_uuid="a-1",
        state="In progress",
        datetime="2026-01-01T00:00:00Z",
        parents=[["container", "c-1"]],
    )
    body = event_to_json(action, Links(DOCKERCLOUD), with_identity=True)
    assert body["resource_uri"] == "/api/audit/v1/action/a-1/"
    assert body["parents"] == ["/api/app/v1/container/c-1/"]


def test_a_log_frame_keeps_the_newline_and_gives_whole_unix_seconds() -> None:
    message = LogStreamMessage(
        kind="line", stream="stderr", text="oops\n", observed_ns=1_700_000_000_999_999_999
    )
    assert log_line_to_json(message) == {
        "type": "log",
        "log": "oops\n",
        "streamType": "stderr",
        "timestamp": 1_700_000_000,
    }


# --- refused handshakes ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/audit/v1/events", "/api/audit/v1/events/"])
def test_docker_cloud_events_refuse_a_handshake_without_credentials_with_401(
    client: FlaskClient, path: str
) -> None:
    assert_error(handshake(client, path), 401)


def test_docker_cloud_events_refuse_bad_query_credentials_with_401(
    client: FlaskClient, account: Account
) -> None:
    response = handshake(client, f"/api/audit/v1/events?user={account.username}&token=wrong")
    assert_error(response, 401)
    bad_auth = quote_plus(f"ApiKey {account.username}:wrong")
    assert_error(handshake(client, f"/api/audit/v1/events?auth={bad_auth}"), 401)
    assert_error(handshake(client, f"/api/audit/v1/events?auth={quote('Basic !!')}"), 401)


def test_docker_cloud_events_in_another_namespace_are_a_404(
    client: FlaskClient, account: Account
) -> None:
    response = handshake(client, "/api/audit/v1/someone-else/events", **account.headers)
    assert_error(response, 404)


@pytest.mark.parametrize("path", ["/v1/events", "/api/audit/v1/events"])
def test_a_plain_get_on_an_events_path_is_a_json_client_error(
    client: FlaskClient, account: Account, path: str
) -> None:
    response = client.get(path, headers=account.headers)
    assert 400 <= response.status_code < 500
    assert "error" in response.get_json()


# --- log stream handshakes ---------------------------------------------------------------------


def logs_paths(uuid: str, username: str) -> list[str]:
    return [
        f"/v1/container/{uuid}/logs/",
        f"/api/app/v1/container/{uuid}/logs/",
        f"/api/app/v1/{username}/container/{uuid}/logs/",
        f"/api/v1/container/{uuid}/logs/",
    ]


@pytest.fixture
def container(client: FlaskClient, account: Account, node: str) -> str:
    return str(create(client, account)["uuid"])


def test_a_log_stream_without_credentials_is_refused_with_401(
    client: FlaskClient, account: Account, container: str
) -> None:
    for path in logs_paths(container, account.username):
        assert_error(handshake(client, path), 401)


def test_a_log_stream_of_an_unknown_or_foreign_container_is_refused_with_404(
    client: FlaskClient, account: Account, make_account: Any, container: str
) -> None:
    bob = make_account("bob")
    for path in logs_paths(container, bob.username):
        assert_error(handshake(client, path, **bob.headers), 404)
    unknown = logs_paths("00000000-0000-4000-8000-000000000000", account.username)
    for path in unknown:
        assert_error(handshake(client, path, **account.headers), 404)
    other_namespace = f"/api/app/v1/{bob.username}/container/{container}/logs/"
    assert_error(handshake(client, other_namespace, **account.headers), 404)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tail=abc", "tail"),
        ("tail=-1", "tail"),
        ("tail=1.5", "tail"),
        ("tail=99999999999999999999999", "tail"),
        ("follow=maybe", "follow"),
        ("follow=2", "follow"),
    ],
)
def test_a_log_stream_with_a_bad_query_is_refused_with_400(
    client: FlaskClient, account: Account, container: str, query: str, field: str
) -> None:
    response = handshake(client, f"/v1/container/{container}/logs/?{query}", **account.headers)
    assert_error(response, 400, field)


def test_a_log_stream_of_a_container_on_an_unreachable_node_is_refused_with_503(
    client: FlaskClient, account: Account, container: str, node: str, database: Database
) -> None:
    with database.session() as session:
        session.execute(
            update(Container).where(Container.uuid == container).values(state="Running")
        )
        session.commit()
        nodes.expire_node_leases(session, cutoff=utcnow() + timedelta(seconds=1))
    for path in logs_paths(container, account.username):
        response = handshake(client, path, **account.headers)
        assert_error(response, 503)
        assert response.get_json()["code"] == "node-unreachable-error", path


def test_the_rest_logs_request_still_answers_on_the_docker_cloud_path(
    client: FlaskClient, account: Account, container: str
) -> None:
    for path in logs_paths(container, account.username)[1:]:
        response = client.get(path, headers=account.headers)
        assert response.status_code == 200, path
        assert response.get_json() == {"logs": ""}


@pytest.mark.parametrize(
    ("raw", "value"),
    [("true", True), ("True", True), ("TRUE", True), ("1", True), ("false", False),
     ("False", False), ("0", False), (" false ", False)],
)  # fmt: skip
def test_query_booleans_are_read_case_insensitively(raw: str, value: bool) -> None:
    assert parse_bool("follow", raw) is value


@pytest.mark.parametrize("raw", ["maybe", "", "2", "truthy"])
def test_anything_else_is_not_a_boolean(raw: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        parse_bool("follow", raw)
    assert error.value.field == "follow"


# --- capacity ----------------------------------------------------------------------------------


def test_stream_slots_are_taken_and_given_back() -> None:
    slots = StreamSlots(1)
    with slots.held():
        with pytest.raises(StreamCapacityError), slots.held():
            pass
    with slots.held():
        pass


@pytest.mark.parametrize(("threads", "slots"), [(100, 75), (256, 192), (8, 6), (3, 1), (1, 1)])
def test_a_quarter_of_a_workers_threads_is_kept_for_rest_requests(threads: int, slots: int) -> None:
    assert stream_slots(threads) == slots


def test_a_handshake_past_the_cap_is_refused_with_503(settings: Settings, account: Account) -> None:
    app = create_app(settings, TESTING=False, STREAM_SLOTS=0)
    try:
        response = handshake(app.test_client(), "/api/audit/v1/events", **account.headers)
        assert_error(response, 503)
        assert app.test_client().get("/api/v1/node/", headers=account.headers).status_code == 200
    finally:
        app.extensions["controlplane"].database.dispose()


def test_a_user_holds_at_most_its_share_of_the_slots_and_gets_them_back() -> None:
    slots = StreamSlots(10, per_user=2)
    with slots.held() as first, slots.held() as second, slots.held() as third:
        first.claim_for(1)
        second.claim_for(1)
        second.claim_for(1)  # the same stream, counted once
        with pytest.raises(UserStreamCapacityError):
            third.claim_for(1)
        third.claim_for(2)  # another user is not refused
        assert (slots.streams_of(1), slots.streams_of(2)) == (2, 1)
    assert (slots.streams_of(1), slots.streams_of(2)) == (0, 0)
    with slots.held() as again:
        again.claim_for(1)


def test_a_refused_claim_gives_the_process_slot_back() -> None:
    slots = StreamSlots(2, per_user=1)
    with slots.held() as held:
        held.claim_for(1)
        for _ in range(3):
            with pytest.raises(UserStreamCapacityError), slots.held() as refused:
                refused.claim_for(1)
        with slots.held() as other:
            other.claim_for(2)


def test_a_handshake_past_the_users_cap_is_refused_with_429(
    settings: Settings, account: Account, make_account: Any
) -> None:
    app = create_app(settings, TESTING=False, STREAM_SLOTS=5)
    slots = app.extensions["controlplane"].stream_slots
    assert slots.per_user == settings.max_streams_per_user == 10
    bob = make_account("bob")
    try:
        for _ in range(slots.per_user):  # the user's open sockets
            slots.take_user_slot(account.user_id)
        client = app.test_client()
        for path in ["/api/audit/v1/events", "/v1/events", "/api/app/v1/container/x/logs/"]:
            response = handshake(client, path, **account.headers)
            assert_error(response, 429)
            assert response.get_json()["code"] == "user-stream-capacity-error", path
            assert f"({slots.per_user})" in response.get_json()["error"]
        # Another user gets past the cap (to the 404 of a container nobody has), and gives
        # the slot back with the answer.
        unknown = "/v1/container/00000000-0000-4000-8000-000000000000/logs/"
        assert_error(handshake(client, unknown, **bob.headers), 404)
        assert slots.streams_of(bob.user_id) == 0
        assert slots.streams_of(account.user_id) == slots.per_user
    finally:
        app.extensions["controlplane"].database.dispose()
