"""The HTTP contract through the Flask test client, with production error handling
(PROPAGATE_EXCEPTIONS off): status codes, JSON error bodies, paging, filters and tenancy."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_restful import Resource

from controlplane.api.errors import ControlPlaneApi, error_response
from controlplane.core.errors import ContainerNotFoundError, InvalidInputError
from tests.unit.helpers import CONTAINERS, Account, assert_error, create, get_json

UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


def total(client: FlaskClient, account: Account, url: str = CONTAINERS) -> int:
    return get_json(client, url, account)["meta"]["total_count"]


def basic(username: str, key: str, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(f'{username}:{key}'.encode()).decode()}"


# --- authentication --------------------------------------------------------------------------

PROTECTED = [
    ("GET", CONTAINERS),
    ("POST", CONTAINERS),
    ("GET", f"{CONTAINERS}{UNKNOWN_UUID}/"),
    ("POST", f"{CONTAINERS}{UNKNOWN_UUID}/start/"),
    ("POST", f"{CONTAINERS}{UNKNOWN_UUID}/stop/"),
    ("POST", f"{CONTAINERS}{UNKNOWN_UUID}/redeploy/"),
    ("DELETE", f"{CONTAINERS}{UNKNOWN_UUID}/"),
    ("GET", f"{CONTAINERS}{UNKNOWN_UUID}/logs/"),
    ("GET", "/api/v1/action/"),
    ("GET", f"/api/v1/action/{UNKNOWN_UUID}/"),
    ("GET", "/api/v1/node/"),
    ("GET", f"/api/v1/node/{UNKNOWN_UUID}/"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_every_endpoint_refuses_a_request_without_credentials(
    client: FlaskClient, method: str, path: str
) -> None:
    response = client.open(path, method=method)
    assert_error(response, 401)
    assert "WWW-Authenticate" in response.headers


@pytest.mark.parametrize(
    "make_header",
    [
        lambda account: f"ApiKey {account.username}:{'0' * 64}",
        lambda account: f"ApiKey mallory:{account.key}",
        lambda account: f"ApiKey {account.username}",
        lambda account: basic(account.username, "wrong"),
        lambda account: "Basic !!!",
        lambda account: f"Bearer {account.key}",
    ],
    ids=["wrong key", "unknown user", "no key", "basic wrong key", "basic garbage", "bearer"],
)
def test_bad_credentials_are_refused_with_401(
    client: FlaskClient, account: Account, make_header: Callable[[Account], str]
) -> None:
    response = client.get(CONTAINERS, headers={"Authorization": make_header(account)})
    assert_error(response, 401)


def test_a_key_does_not_work_under_another_username(
    client: FlaskClient, account: Account, make_account: Callable[[str], Account]
) -> None:
    bob = make_account("bob")
    response = client.get(CONTAINERS, headers={"Authorization": f"ApiKey bob:{account.key}"})
    assert_error(response, 401)
    assert client.get(CONTAINERS, headers=bob.headers).status_code == 200


@pytest.mark.parametrize(
    "make_header",
    [
        lambda a: f"ApiKey {a.username}:{a.key}",
        lambda a: f"Apikey {a.username}:{a.key}",
        lambda a: f"apikey {a.username}:{a.key}",
        lambda a: basic(a.username, a.key),
        lambda a: basic(a.username, a.key, scheme="basic"),
    ],
    ids=["ApiKey", "Apikey", "apikey", "Basic", "basic"],
)
def test_every_sdk_header_form_authenticates(
    client: FlaskClient, account: Account, make_header: Callable[[Account], str]
) -> None:
    response = client.get(CONTAINERS, headers={"Authorization": make_header(account)})
    assert response.status_code == 200
    assert response.get_json()["objects"] == []


# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/v1/nothing/", "/api/v2/container/", "/favicon.ico"])
def test_an_unknown_path_is_a_json_404(client: FlaskClient, account: Account, path: str) -> None:
    assert_error(client.get(path, headers=account.headers), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", CONTAINERS, {"GET", "POST"}),
        ("DELETE", CONTAINERS, {"GET", "POST"}),
        ("PATCH", f"{CONTAINERS}{UNKNOWN_UUID}/", {"GET", "DELETE"}),
        ("GET", f"{CONTAINERS}{UNKNOWN_UUID}/start/", {"POST"}),
        ("POST", "/api/v1/node/", {"GET"}),
    ],
)
def test_a_wrong_method_is_a_json_405_with_an_allow_header(
    client: FlaskClient, account: Account, method: str, path: str, allowed: set[str]
) -> None:
    response = client.open(path, method=method, headers=account.headers)
    assert_error(response, 405)
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert method not in response.headers["Allow"]


@pytest.mark.parametrize(
    "path",
    [
        f"{CONTAINERS}{UNKNOWN_UUID}/",
        f"{CONTAINERS}not-a-uuid/",
        f"{CONTAINERS}{UNKNOWN_UUID}/logs/",
        f"/api/v1/action/{UNKNOWN_UUID}/",
        "/api/v1/action/not-a-uuid/",
        f"/api/v1/node/{UNKNOWN_UUID}/",
    ],
)
def test_an_unknown_or_malformed_uuid_is_a_404(
    client: FlaskClient, account: Account, path: str
) -> None:
    data = assert_error(client.get(path, headers=account.headers), 404)
    assert "not found" in data["error"]


@pytest.mark.parametrize("action", ["start", "stop"])
def test_an_action_on_an_unknown_container_is_a_404(
    client: FlaskClient, account: Account, node: str, action: str
) -> None:
    response = client.post(f"{CONTAINERS}{UNKNOWN_UUID}/{action}/", headers=account.headers)
    assert_error(response, 404)


def test_the_slashless_path_answers_without_a_redirect(
    client: FlaskClient, account: Account
) -> None:
    response = client.get("/api/v1/container", headers=account.headers)
    assert response.status_code == 200
    assert "objects" in response.get_json()


# --- request bodies --------------------------------------------------------------------------


def test_a_get_with_a_json_content_type_and_no_body_is_fine(
    client: FlaskClient, account: Account
) -> None:
    headers = {**account.headers, "Content-Type": "application/json"}
    response = client.get(CONTAINERS, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["meta"]["total_count"] == 0


def test_the_answer_is_json_whatever_the_accept_header(
    client: FlaskClient, account: Account
) -> None:
    response = client.get(CONTAINERS, headers={**account.headers, "Accept": "text/html"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"


def test_a_create_with_an_empty_body_names_the_missing_image(
    client: FlaskClient, account: Account, node: str
) -> None:
    headers = {**account.headers, "Content-Type": "application/json"}
    assert_error(client.post(CONTAINERS, headers=headers), 400, field="image_name")


@pytest.mark.parametrize("raw", ["{not json", "{'image_name': 'busybox'}", "\xff"])
def test_a_body_that_is_not_json_is_a_400_naming_the_body(
    client: FlaskClient, account: Account, node: str, raw: str
) -> None:
    response = client.post(
        CONTAINERS, data=raw, content_type="application/json", headers=account.headers
    )
    assert_error(response, 400, field="body")
    assert total(client, account) == 0


@pytest.mark.parametrize("value", [["busybox"], "busybox", 5, None])
def test_a_json_body_that_is_not_an_object_is_a_400(
    client: FlaskClient, account: Account, node: str, value: Any
) -> None:
    response = client.post(
        CONTAINERS, data=json.dumps(value), content_type="application/json", headers=account.headers
    )
    assert_error(response, 400, field="body")


def test_a_form_encoded_body_is_a_415(client: FlaskClient, account: Account, node: str) -> None:
    response = client.post(CONTAINERS, data={"image_name": "busybox"}, headers=account.headers)
    assert_error(response, 415)
    assert total(client, account) == 0


def test_json_sent_as_text_plain_is_a_415(client: FlaskClient, account: Account, node: str) -> None:
    response = client.post(
        CONTAINERS,
        data=json.dumps({"image_name": "busybox"}),
        content_type="text/plain",
        headers=account.headers,
    )
    assert_error(response, 415)


def test_a_body_over_the_size_limit_is_a_json_413(
    client: FlaskClient, account: Account, node: str
) -> None:
    huge = json.dumps({"image_name": "busybox", "labels": {"x": "y" * (2 * 1024 * 1024)}})
    response = client.post(
        CONTAINERS, data=huge, content_type="application/json", headers=account.headers
    )
    assert_error(response, 413)
    assert total(client, account) == 0


BAD_CREATES = [
    ({"image_name": ""}, "image_name"),
    ({"image_name": "a b"}, "image_name"),
    ({"image_name": "busybox", "name": "a/b"}, "name"),
    ({"image_name": "busybox", "memory": "512"}, "memory"),
    ({"image_name": "busybox", "cpu_shares": 1}, "cpu_shares"),
    ({"image_name": "busybox", "memroy": 512}, "memroy"),
    ({"image_name": "busybox", "autorestart": "SOMETIMES"}, "autorestart"),
    ({"image_name": "busybox", "working_dir": "tmp"}, "working_dir"),
    ({"image_name": "busybox", "labels": {"io.controlplane.node_uuid": "x"}}, "labels"),
    (
        {"image_name": "busybox", "container_envvars": [{"key": "1BAD", "value": "x"}]},
        "container_envvars[0]",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_CREATES, ids=[f for _, f in BAD_CREATES])
def test_a_bad_create_is_a_400_and_writes_nothing(
    client: FlaskClient, account: Account, node: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(CONTAINERS, json=body, headers=account.headers)
    assert_error(response, 400, field=field)
    assert total(client, account) == 0
    assert total(client, account, "/api/v1/action/") == 0


# --- create ----------------------------------------------------------------------------------


def test_a_create_without_a_registered_node_is_a_503(client: FlaskClient, account: Account) -> None:
    response = client.post(CONTAINERS, json={"image_name": "busybox"}, headers=account.headers)
    data = assert_error(response, 503)
    assert "node" in data["error"]
    assert total(client, account) == 0


def test_a_create_answers_201_with_an_init_container_and_its_action(
    client: FlaskClient, account: Account, node: str
) -> None:
    response = client.post(
        CONTAINERS, json={"image_name": "busybox", "name": "web"}, headers=account.headers
    )
    assert response.status_code == 201
    container = response.get_json()
    assert container["state"] == "Init"
    assert container["name"] == "web"
    assert container["unique_name"].startswith("web-")
    assert container["image_name"] == "busybox:latest"
    assert container["node"] == f"/api/v1/node/{node}/"
    assert container["resource_uri"] == f"{CONTAINERS}{container['uuid']}/"

    action_uri = response.headers["X-Tutum-Action-URI"]
    assert action_uri.startswith("/api/v1/action/")
    action = get_json(client, action_uri, account)
    assert action["state"] == "Success"
    assert action["action"] == "Container Create"
    assert action["object"] == container["resource_uri"]
    assert action["method"] == "POST"

    assert get_json(client, container["resource_uri"], account) == container


def test_the_logs_of_a_container_that_never_ran_are_empty(
    client: FlaskClient, account: Account, node: str
) -> None:
    container = create(client, account)
    logs = get_json(client, f"{container['resource_uri']}logs/", account)
    assert logs == {"logs": ""}


# --- tenancy ---------------------------------------------------------------------------------


def test_a_user_cannot_see_or_touch_another_users_containers(
    client: FlaskClient, account: Account, make_account: Callable[[str], Account], node: str
) -> None:
    mine = create(client, account)
    bob = make_account("bob")
    theirs = create(client, bob)

    assert_error(client.get(mine["resource_uri"], headers=bob.headers), 404)
    assert_error(client.post(f"{mine['resource_uri']}stop/", headers=bob.headers), 404)
    assert_error(client.post(f"{mine['resource_uri']}start/", headers=bob.headers), 404)
    assert_error(client.delete(mine["resource_uri"], headers=bob.headers), 404)

    listed = get_json(client, CONTAINERS, bob)
    assert [c["uuid"] for c in listed["objects"]] == [theirs["uuid"]]
    assert listed["meta"]["total_count"] == 1
    for action in get_json(client, "/api/v1/action/", bob)["objects"]:
        assert action["object"] == theirs["resource_uri"]
    assert get_json(client, mine["resource_uri"], account)["state"] == "Init"


def test_a_user_cannot_read_another_users_action(
    client: FlaskClient, account: Account, make_account: Callable[[str], Account], node: str
) -> None:
    response = client.post(CONTAINERS, json={"image_name": "busybox"}, headers=account.headers)
    action_uri = response.headers["X-Tutum-Action-URI"]
    bob = make_account("bob")
    assert_error(client.get(action_uri, headers=bob.headers), 404)


# --- paging and filters ----------------------------------------------------------------------


def test_following_next_visits_every_container_once_in_creation_order(
    client: FlaskClient, account: Account, node: str
) -> None:
    created = [create(client, account, name=f"c{i}")["uuid"] for i in range(30)]
    seen: list[str] = []
    offsets: list[int] = []
    url: str | None = f"{CONTAINERS}?limit=7"
    while url is not None:
        assert url.startswith("/api/")
        page = get_json(client, url, account)
        assert page["meta"]["limit"] == 7
        assert page["meta"]["total_count"] == 30
        offsets.append(page["meta"]["offset"])
        seen.extend(c["uuid"] for c in page["objects"])
        url = page["meta"]["next"]
        assert len(offsets) <= 5, "next never became null"
    assert offsets == [0, 7, 14, 21, 28]
    assert seen == created


def test_every_page_tells_the_same_total_even_past_the_end(
    client: FlaskClient, account: Account, node: str
) -> None:
    for i in range(6):
        create(client, account, name=f"c{i}")
    # Full pages, the last full page, a partial last page, and pages past the end.
    for query in ("limit=2", "limit=3&offset=3", "limit=4&offset=4", "offset=6", "offset=50"):
        assert get_json(client, f"{CONTAINERS}?{query}", account)["meta"]["total_count"] == 6
    assert get_json(client, f"{CONTAINERS}?name=c1&offset=1", account)["meta"]["total_count"] == 1


def test_the_sdk_way_of_paging_by_offset_gives_the_same_pages(
    client: FlaskClient, account: Account, node: str
) -> None:
    created = [create(client, account)["uuid"] for _ in range(5)]
    first = get_json(client, f"{CONTAINERS}?limit=2", account)
    meta = first["meta"]
    second = get_json(
        client,
        f"{CONTAINERS}?offset={meta['offset'] + meta['limit']}&limit={meta['limit']}",
        account,
    )
    assert [c["uuid"] for c in first["objects"] + second["objects"]] == created[:4]
    assert second["meta"]["previous"] is not None


def test_the_default_page_size_is_25(client: FlaskClient, account: Account) -> None:
    meta = get_json(client, CONTAINERS, account)["meta"]
    assert (meta["limit"], meta["offset"], meta["next"], meta["previous"]) == (25, 0, None, None)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=x", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("limit=1001", "limit"),
        ("offset=x", "offset"),
        ("offset=-1", "offset"),
    ],
)
def test_a_bad_limit_or_offset_is_a_400(
    client: FlaskClient, account: Account, query: str, field: str
) -> None:
    assert_error(client.get(f"{CONTAINERS}?{query}", headers=account.headers), 400, field=field)


def test_an_unknown_state_filter_is_a_400(client: FlaskClient, account: Account) -> None:
    response = client.get(f"{CONTAINERS}?state=Bogus", headers=account.headers)
    assert_error(response, 400, field="state")


@pytest.fixture
def three_containers(
    client: FlaskClient, account: Account, node: str, report: Callable[..., bool]
) -> list[dict[str, Any]]:
    web1 = create(client, account, name="web")
    web2 = create(client, account, name="web")
    db = create(client, account, name="db")
    assert report(web2["uuid"], "Running", node_uuid=node)
    return [web1, web2, db]


def uuids_for(client: FlaskClient, account: Account, query: str) -> list[str]:
    return [c["uuid"] for c in get_json(client, f"{CONTAINERS}?{query}", account)["objects"]]


def test_the_state_filter_lists_only_that_state(
    client: FlaskClient, account: Account, three_containers: list[dict[str, Any]]
) -> None:
    web1, web2, db = three_containers
    assert uuids_for(client, account, "state=Running") == [web2["uuid"]]
    assert uuids_for(client, account, "state=Init") == [web1["uuid"], db["uuid"]]
    assert uuids_for(client, account, "state=Stopped") == []


def test_the_name_filters_match_exactly(
    client: FlaskClient, account: Account, three_containers: list[dict[str, Any]]
) -> None:
    web1, web2, db = three_containers
    assert uuids_for(client, account, "name=web") == [web1["uuid"], web2["uuid"]]
    assert uuids_for(client, account, "name=we") == []
    assert uuids_for(client, account, f"unique_name={db['unique_name']}") == [db["uuid"]]


def test_the_uuid_filters_find_one_container(
    client: FlaskClient, account: Account, three_containers: list[dict[str, Any]]
) -> None:
    web1, _, db = three_containers
    assert uuids_for(client, account, f"uuid={db['uuid']}") == [db["uuid"]]
    assert uuids_for(client, account, f"uuid__startswith={web1['uuid'][:13]}") == [web1["uuid"]]
    assert uuids_for(client, account, "uuid__startswith=%25") == []
    assert uuids_for(client, account, f"uuid={UNKNOWN_UUID}") == []


def test_a_uuid_prefix_matches_in_any_case_and_one_no_uuid_has_matches_nothing(
    client: FlaskClient, account: Account, three_containers: list[dict[str, Any]]
) -> None:
    web1, _, _ = three_containers
    short = web1["uuid"][:8]
    assert uuids_for(client, account, f"uuid__startswith={short.upper()}") == [web1["uuid"]]
    assert uuids_for(client, account, f"uuid__startswith={short}x") == []
    assert uuids_for(client, account, "uuid__startswith=_") == []
    assert len(uuids_for(client, account, "uuid__startswith=")) == 3


def test_filters_combine_and_are_repeated_in_the_next_link(
    client: FlaskClient, account: Account, three_containers: list[dict[str, Any]]
) -> None:
    web1, web2, _ = three_containers
    first = get_json(client, f"{CONTAINERS}?name=web&limit=1", account)
    assert [c["uuid"] for c in first["objects"]] == [web1["uuid"]]
    assert first["meta"]["total_count"] == 2
    assert "name=web" in urlsplit(first["meta"]["next"]).query
    second = get_json(client, first["meta"]["next"], account)
    assert [c["uuid"] for c in second["objects"]] == [web2["uuid"]]
    assert second["meta"]["next"] is None
    assert uuids_for(client, account, "name=web&state=Running") == [web2["uuid"]]


def test_unknown_query_parameters_are_ignored(
    client: FlaskClient, account: Account, three_containers: list[dict[str, Any]]
) -> None:
    assert len(uuids_for(client, account, "whatever=1&include_related=true")) == 3


@pytest.mark.parametrize(
    "query", ["service=/api/v1/service/abc/", "service__stack__name=x", "service=&name=web"]
)
def test_service_filters_match_nothing_since_no_container_belongs_to_a_service(
    client: FlaskClient, account: Account, three_containers: list[dict[str, Any]], query: str
) -> None:
    assert uuids_for(client, account, query) == []


# --- lifecycle over HTTP ---------------------------------------------------------------------


def test_start_with_the_broker_unreachable_is_a_503_and_undoes_the_change(
    client: FlaskClient, account: Account, node: str
) -> None:
    container = create(client, account)
    started = time.monotonic()
    response = client.post(f"{container['resource_uri']}start/", headers=account.headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, (
        f"{response.status_code} after {elapsed:.1f} s: {response.get_json()}"
    )
    assert elapsed < 5, f"the broker failure took {elapsed:.1f} s to surface"
    assert get_json(client, container["resource_uri"], account)["state"] == "Init"
    actions = get_json(client, "/api/v1/action/", account)["objects"]
    assert [(a["action"], a["state"]) for a in actions] == [
        ("Container Create", "Success"),
        ("Container Start", "Failed"),
    ]
    assert actions[1]["reason"]


def test_logs_with_the_broker_unreachable_are_a_quick_503(
    client: FlaskClient, account: Account, node: str, report: Callable[..., bool]
) -> None:
    container = create(client, account)
    assert report(container["uuid"], "Running", node_uuid=node)
    started = time.monotonic()
    response = client.get(f"{container['resource_uri']}logs/", headers=account.headers)
    elapsed = time.monotonic() - started
    assert_error(response, 503)
    assert elapsed < 5, f"the broker failure took {elapsed:.1f} s to surface"


def test_starting_a_running_container_is_a_409_and_changes_nothing(
    client: FlaskClient, account: Account, node: str, report: Callable[..., bool]
) -> None:
    container = create(client, account)
    assert report(container["uuid"], "Running", node_uuid=node)
    response = client.post(f"{container['resource_uri']}start/", headers=account.headers)
    data = assert_error(response, 409)
    assert "Running" in data["error"]
    assert "X-Tutum-Action-URI" not in response.headers
    assert get_json(client, container["resource_uri"], account)["state"] == "Running"
    assert total(client, account, "/api/v1/action/") == 1


def test_stopping_a_container_that_never_started_is_a_409(
    client: FlaskClient, account: Account, node: str
) -> None:
    container = create(client, account)
    response = client.post(f"{container['resource_uri']}stop/", headers=account.headers)
    assert_error(response, 409)
    assert get_json(client, container["resource_uri"], account)["state"] == "Init"


def test_a_terminated_container_stays_fetchable_and_refuses_every_action(
    client: FlaskClient, account: Account, node: str, report: Callable[..., bool]
) -> None:
    container = create(client, account)
    assert report(container["uuid"], "Terminated", node_uuid=node)
    uri = container["resource_uri"]
    fetched = get_json(client, uri, account)
    assert fetched["state"] == "Terminated"
    assert fetched["destroyed_datetime"] is not None
    assert_error(client.post(f"{uri}start/", headers=account.headers), 409)
    assert_error(client.post(f"{uri}stop/", headers=account.headers), 409)
    assert_error(client.delete(uri, headers=account.headers), 409)


# --- unexpected errors -----------------------------------------------------------------------


class ExplodingResource(Resource):
    def get(self) -> dict[str, Any]:
        raise RuntimeError("secret detail: /etc/controlplane/db-password")


def restful_api(app: Flask) -> ControlPlaneApi:
    """The app's own flask-restful Api, found through the error router it installs."""
    api = app.handle_user_exception.func.__self__  # type: ignore[attr-defined]
    assert isinstance(api, ControlPlaneApi)
    return api


def test_an_unexpected_error_in_a_resource_is_a_500_with_a_correlation_id(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    restful_api(app).add_resource(ExplodingResource, "/api/v1/explode/", endpoint="explode")
    with caplog.at_level(logging.ERROR, logger="controlplane.api.errors"):
        response = app.test_client().get("/api/v1/explode/")
    data = assert_error(response, 500)
    assert set(data) == {"error", "correlation_id"}
    assert "secret detail" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert data["correlation_id"] in caplog.text
    assert "secret detail" in caplog.text


def test_a_database_failure_is_a_500_and_the_next_request_still_works(
    client: FlaskClient, account: Account, database_url: str
) -> None:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
        connection.execute("DROP TABLE actions")
    data = assert_error(client.get("/api/v1/action/", headers=account.headers), 500)
    assert "correlation_id" in data
    assert "actions" not in data["error"]
    assert get_json(client, CONTAINERS, account)["objects"] == []


def test_error_response_maps_domain_errors_through_their_base_class(app: Flask) -> None:
    with app.test_request_context():
        not_found = error_response(ContainerNotFoundError(ident="x"))
        invalid = error_response(InvalidInputError("memory", "must be an integer"))
    assert not_found.status_code == 404
    assert not_found.get_json() == {
        "error": "container x not found",
        "code": "container-not-found-error",
    }
    assert invalid.status_code == 400
    assert invalid.get_json()["field"] == "memory"


# --- credential check ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/auth/", "/auth/", "/api/v1/auth", "/auth"])
def test_the_credential_check_names_the_user_of_a_good_key(
    client: FlaskClient, account: Account, path: str
) -> None:
    response = client.get(path, headers={"Authorization": basic(account.username, account.key)})

    assert response.status_code == 200
    body = response.get_json()
    assert body["objects"] == [{"username": account.username}]
    assert body["meta"]["next"] is None
    assert "key" not in body["objects"][0]


@pytest.mark.parametrize("path", ["/api/v1/auth/", "/auth/"])
def test_the_credential_check_refuses_a_bad_key_with_401(
    client: FlaskClient, account: Account, path: str
) -> None:
    assert_error(client.get(path), 401)
    response = client.get(path, headers={"Authorization": basic(account.username, "wrong")})
    assert_error(response, 401)
