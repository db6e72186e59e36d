"""Who may call the API, through the Flask test client: every endpoint refuses missing or bad
credentials with a JSON 401, every header form the SDKs send authenticates, the credential check
names the user, and a user never sees or touches another user's containers or actions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.unit.helpers import (
    CONTAINERS,
    UNKNOWN_UUID,
    Account,
    assert_error,
    basic,
    create,
    get_json,
)

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
