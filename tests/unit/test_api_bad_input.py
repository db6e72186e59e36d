"""Bad input through the Flask test client, with production error handling (issue 11): every
refusal is a 4xx JSON error, never a 500 or the server's bare HTML page, and writes nothing."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from tests.unit.helpers import CONTAINERS, UNKNOWN_UUID, Account, assert_error, total

pytestmark = pytest.mark.both_backends

ACTIONS = "/api/v1/action/"


def post_raw(client: FlaskClient, account: Account, raw: str) -> object:
    return client.post(
        CONTAINERS, data=raw, content_type="application/json", headers=account.headers
    )


def assert_nothing_written(client: FlaskClient, account: Account) -> None:
    assert total(client, account) == 0
    assert total(client, account, ACTIONS) == 0


@pytest.mark.parametrize("depth", [40, 990, 100_000])
def test_a_deeply_nested_body_is_a_400_naming_the_body(
    client: FlaskClient, account: Account, node: str, depth: int
) -> None:
    raw = '{"image_name": "busybox", "labels": ' + "[" * depth + "]" * depth + "}"
    assert_error(post_raw(client, account, raw), 400, field="body")
    assert_nothing_written(client, account)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("run_command", "sh \ud800", "run_command"),
        ("entrypoint", "\ud800", "entrypoint"),
        ("working_dir", "/\ud800", "working_dir"),
        ("user", "\ud800", "user"),
        ("labels", {"a": "\ud800"}, "labels"),
        ("labels", {"\udc00": "b"}, "labels"),
        ("container_envvars", [{"key": "A", "value": "\ud800"}], "container_envvars[0]"),
        ("container_envvars", [{"key": "A", "value": "\x00"}], "container_envvars[0]"),
    ],
)
def test_a_string_no_backend_can_store_is_a_400_naming_the_field(
    client: FlaskClient, account: Account, node: str, field: str, value: object, named: str
) -> None:
    # json.dumps escapes them (`\ud800`, `\u0000`), as a client's encoder would.
    raw = json.dumps({"image_name": "busybox", field: value})
    data = assert_error(post_raw(client, account, raw), 400, field=named)
    assert "Unicode scalar values" in data["error"]
    assert_nothing_written(client, account)


@pytest.mark.parametrize("url", [CONTAINERS, ACTIONS, "/api/v1/node/"])
@pytest.mark.parametrize(
    "query", ["offset=9223372036854775808", "limit=9223372036854775808", "offset=1" + "0" * 5000]
)
def test_a_huge_limit_or_offset_is_a_400(
    client: FlaskClient, account: Account, url: str, query: str
) -> None:
    name = query.partition("=")[0]
    assert_error(client.get(f"{url}?{query}", headers=account.headers), 400, field=name)


@pytest.mark.parametrize("query", ["name=a%00b", "uuid__startswith=%00", "x%00=1"])
@pytest.mark.parametrize("url", [CONTAINERS, ACTIONS, "/api/v1/node/"])
def test_a_query_parameter_with_a_nul_is_a_400(
    client: FlaskClient, account: Account, url: str, query: str
) -> None:
    name = query.partition("=")[0].replace("%00", "\x00")
    assert_error(client.get(f"{url}?{query}", headers=account.headers), 400, field=name)


def test_the_largest_offset_is_an_empty_page(client: FlaskClient, account: Account) -> None:
    response = client.get(f"{CONTAINERS}?offset={2**63 - 1}", headers=account.headers)
    assert response.status_code == 200
    assert response.get_json()["objects"] == []


@pytest.mark.parametrize("date", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
@pytest.mark.parametrize("name", ["start_date__gte", "end_date__lte"])
def test_a_date_outside_the_representable_years_in_utc_is_a_400(
    client: FlaskClient, account: Account, name: str, date: str
) -> None:
    response = client.get(ACTIONS, query_string={name: date}, headers=account.headers)
    assert_error(response, 400, field=name)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/events/",
        f"/v1/container/{UNKNOWN_UUID}/logs/",
        "/api/audit/v1/events/",
        "/api/audit/v1/alice/events/",
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_a_write_method_on_a_stream_path_is_a_json_405(
    client: FlaskClient, account: Account, method: str, path: str
) -> None:
    response = client.open(path, method=method, headers=account.headers)
    assert_error(response, 405)
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1//container/",
        "//api/v1/container/",
        "/api/app//v1/container/",
    ],
)
def test_a_path_with_a_double_slash_is_a_json_404_not_a_redirect(
    client: FlaskClient, account: Account, method: str, path: str
) -> None:
    response = client.open(path, method=method, headers=account.headers)
    assert_error(response, 404)
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (CONTAINERS, {"GET", "POST"}),
        (f"{CONTAINERS}{UNKNOWN_UUID}/", {"GET", "DELETE"}),
        ("/v1/events/", {"GET"}),
    ],
)
def test_options_is_a_json_405_naming_the_methods(
    client: FlaskClient, account: Account, path: str, allowed: set[str]
) -> None:
    response = client.options(path, headers=account.headers)
    assert_error(response, 405)
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert "OPTIONS" not in response.headers["Allow"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"labels": {f"l{i}": "v" * 4000 for i in range(200)}}, "labels"),
        ({"run_command": "sleep " + "9" * 200_000}, "run_command"),
        ({"user": "u" * 256}, "user"),
    ],
    ids=["labels", "run_command", "user"],
)
def test_a_field_over_its_cap_is_a_400_within_the_body_limit(
    client: FlaskClient, account: Account, node: str, fields: dict[str, object], named: str
) -> None:
    response = client.post(
        CONTAINERS, json={"image_name": "busybox", **fields}, headers=account.headers
    )
    assert_error(response, 400, field=named)
    assert_nothing_written(client, account)


def test_an_action_records_a_hostile_user_agent_as_storable_text(
    client: FlaskClient, account: Account, node: str
) -> None:
    """The User-Agent reaches the create Action's record unchecked: a NUL there was a 500 on
    PostgreSQL."""
    response = client.post(
        CONTAINERS,
        json={"image_name": "busybox"},
        headers={**account.headers, "User-Agent": "agent\x00" + "x" * 5000},
    )
    assert response.status_code == 201, response.get_json()
    actions = client.get(ACTIONS, headers=account.headers).get_json()["objects"]
    assert [action["user_agent"] for action in actions] == ["agent\ufffd" + "x" * 1018]


def test_an_action_endpoint_stores_a_body_it_does_not_read(
    client: FlaskClient, account: Account, container: str
) -> None:
    """An action endpoint reads no body, but records it: NUL bytes there were a 500 on
    PostgreSQL. Here the record is made and then rolled back, as the unit tests' broker is
    closed: the 503 says the request got past the write."""
    response = client.post(
        f"{CONTAINERS}{container}/start/", data=b"\x00" * 5000, headers=account.headers
    )
    assert_error(response, 503)
    assert response.get_json()["code"] == "broker-unavailable-error"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        # a dropped id: not the list, which a trailing slash more would otherwise reach
        ("GET", "/api/v1/container//"),
        ("GET", f"/api/v1/container/{UNKNOWN_UUID}//"),
        ("GET", "/api/audit/v1/action//"),
        ("DELETE", "/api/v1/container//"),
        # a NUL names no object and no namespace (PostgreSQL refuses it in text: a 500)
        ("GET", "/api/v1/container/a%00b/"),
        ("DELETE", "/api/v1/container/a%00b/"),
        ("GET", "/api/app/v1/%00/container/"),
        ("POST", "/api/app/v1/alice/container/%00/stop/"),
        ("POST", "/api/v1/action/%00/cancel/"),
    ],
)
def test_a_path_with_an_empty_segment_or_a_nul_names_nothing(
    client: FlaskClient, account: Account, method: str, path: str
) -> None:
    assert_error(client.open(path, method=method, headers=account.headers), 404)


def test_routing_answers_first_an_unserved_method_with_a_bad_query_is_a_405(
    client: FlaskClient, account: Account
) -> None:
    assert_error(client.patch(f"{CONTAINERS}?state=%00", headers=account.headers), 405)
    assert_error(client.get("/api/v1/nothing/?state=%00", headers=account.headers), 404)
