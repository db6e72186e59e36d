"""Containers over HTTP through the Flask test client: a create answers 201 with its action,
and the lifecycle endpoints answer 409 for a refused transition and a quick 503, undone, when the
broker is unreachable."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.unit.helpers import CONTAINERS, Account, assert_error, create, get_json, total

pytestmark = pytest.mark.both_backends

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
        ("Container Start", "Failed"),
        ("Container Create", "Success"),
    ]
    assert actions[0]["reason"]


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
