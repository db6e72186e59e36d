"""Container options and redeploy over HTTP (Flask test client, production error handling):
options stored and returned, dangerous ones refused with 403, redeploy's route and flag."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from controlplane.api import params
from controlplane.app import create_app
from controlplane.core.errors import InvalidInputError
from controlplane.settings import Settings
from tests.unit.helpers import Account

pytestmark = pytest.mark.both_backends

CONTAINERS = "/api/v1/container/"

SAFE_OPTIONS: dict[str, Any] = {
    "image_name": "busybox:latest",
    "memory": 64,
    "memory_swap": 128,
    "cpu_shares": 512,
    "cpuset": "0",
    "user": "nobody",
    "hostname": "web1",
    "domainname": "example.org",
    "mac_address": "02:42:ac:11:ff:ee",
    "tty": True,
    "stdin_open": True,
    "read_only": True,
    "dns": ["10.0.0.2"],
    "dns_search": ["example.org"],
    "extra_hosts": ["db:10.0.0.5"],
    "net": "bridge",
    "pid": "none",
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "bindings": [
        {"host_path": None, "container_path": "/data", "rewritable": True, "volume": "data"}
    ],
    "autorestart": "ALWAYS",
    "autodestroy": "ON_SUCCESS",
}


@pytest.fixture
def permissive(settings: Settings) -> Iterator[FlaskClient]:
    """A second API over the same database whose operator allows privileged and net_host."""
    app = create_app(
        Settings(
            database_url=settings.database_url,
            broker_url=settings.broker_url,
            allow_dangerous=frozenset({"privileged", "net_host"}),
            secret_key=settings.secret_key,
        )
    )
    yield app.test_client()
    app.extensions["controlplane"].database.dispose()


def create(client: FlaskClient, account: Account, **fields: Any) -> dict[str, Any]:
    response = client.post(
        CONTAINERS, json={"image_name": "busybox", **fields}, headers=account.headers
    )
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def count(client: FlaskClient, account: Account, path: str = CONTAINERS) -> int:
    return int(client.get(path, headers=account.headers).get_json()["meta"]["total_count"])


def test_a_create_stores_and_returns_every_option(
    client: FlaskClient, account: Account, node: str
) -> None:
    created = create(client, account, **SAFE_OPTIONS)
    assert {name: created[name] for name in SAFE_OPTIONS} == SAFE_OPTIONS
    fetched = client.get(created["resource_uri"], headers=account.headers).get_json()
    assert {name: fetched[name] for name in SAFE_OPTIONS} == SAFE_OPTIONS


def test_an_option_left_out_has_its_default(
    client: FlaskClient, account: Account, node: str
) -> None:
    created = create(client, account)
    assert (created["net"], created["pid"], created["autodestroy"]) == ("bridge", "none", "OFF")
    assert (created["privileged"], created["memory_swap"], created["cpuset"]) == (False, None, "")
    assert created["container_ports"] == created["bindings"] == created["cap_add"] == []


DANGEROUS = [
    ({"privileged": True}, "privileged"),
    ({"net": "host"}, "net"),
    ({"pid": "host"}, "pid"),
    ({"devices": ["/dev/zero"]}, "devices"),
    ({"cap_add": ["NET_ADMIN"]}, "cap_add"),
    ({"bindings": [{"container_path": "/h", "host_path": "/etc"}]}, "bindings"),
    ({"security_opt": ["seccomp=unconfined"]}, "security_opt"),
]


@pytest.mark.parametrize(("fields", "field"), DANGEROUS, ids=[f for _, f in DANGEROUS])
def test_a_dangerous_option_is_a_403_naming_its_field_and_writes_nothing(
    client: FlaskClient, account: Account, node: str, fields: dict[str, Any], field: str
) -> None:
    response = client.post(
        CONTAINERS, json={"image_name": "busybox", **fields}, headers=account.headers
    )
    assert response.status_code == 403
    error = response.get_json()
    assert (error["code"], error["field"]) == ("dangerous-option-forbidden-error", field)
    assert "CONTROLPLANE_ALLOW_DANGEROUS=" in error["error"]
    assert count(client, account) == 0
    assert count(client, account, "/api/v1/action/") == 0


def test_bad_input_is_a_400_before_any_403(
    client: FlaskClient, account: Account, node: str
) -> None:
    response = client.post(
        CONTAINERS,
        json={"image_name": "busybox", "privileged": True, "cpuset": "x"},
        headers=account.headers,
    )
    assert response.status_code == 400
    assert response.get_json()["field"] == "cpuset"


def test_an_allowed_dangerous_option_is_accepted(
    permissive: FlaskClient, account: Account, node: str
) -> None:
    created = create(permissive, account, privileged=True, net="host")
    assert (created["privileged"], created["net"]) == (True, "host")


def test_a_start_is_refused_when_the_option_is_no_longer_allowed(
    client: FlaskClient, permissive: FlaskClient, account: Account, node: str
) -> None:
    created = create(permissive, account, privileged=True)
    response = client.post(f"{created['resource_uri']}start/", headers=account.headers)
    assert response.status_code == 403
    assert response.get_json()["field"] == "privileged"
    assert (
        client.get(created["resource_uri"], headers=account.headers).get_json()["state"] == "Init"
    )
    assert count(client, account, "/api/v1/action/") == 1


def test_a_refused_transition_is_a_409_even_with_a_forbidden_option(
    client: FlaskClient,
    permissive: FlaskClient,
    account: Account,
    node: str,
    report: Callable[..., bool],
) -> None:
    created = create(permissive, account, privileged=True)
    assert report(created["uuid"], "Terminated", node_uuid=node)
    response = client.post(f"{created['resource_uri']}start/", headers=account.headers)
    assert response.status_code == 409


# --- redeploy --------------------------------------------------------------------------------


@pytest.mark.parametrize("tree", ["/api/v1/container/", "/api/app/v1/container/"])
def test_redeploy_before_the_first_start_is_a_409(
    client: FlaskClient, account: Account, node: str, tree: str
) -> None:
    created = create(client, account)
    response = client.post(f"{tree}{created['uuid']}/redeploy/", headers=account.headers)
    assert response.status_code == 409
    assert "cannot redeploy" in response.get_json()["error"]


def test_a_redeploy_flag_that_is_not_a_boolean_is_a_400(
    client: FlaskClient, account: Account, node: str, report: Callable[..., bool]
) -> None:
    created = create(client, account)
    assert report(created["uuid"], "Running", node_uuid=node)
    response = client.post(
        f"{created['resource_uri']}redeploy/?reuse_volumes=yes", headers=account.headers
    )
    assert response.status_code == 400
    assert response.get_json()["field"] == "reuse_volumes"
    assert client.get(created["resource_uri"], headers=account.headers).get_json()["state"] == (
        "Running"
    )


@pytest.mark.parametrize("state", ["Running", "Stopped"])
def test_a_redeploy_with_the_broker_down_is_a_503_and_undone(
    client: FlaskClient, account: Account, node: str, report: Callable[..., bool], state: str
) -> None:
    created = create(client, account)
    assert report(created["uuid"], state, node_uuid=node)
    response = client.post(
        f"{created['resource_uri']}redeploy/?reuse_volumes=False", headers=account.headers
    )
    assert response.status_code == 503
    assert client.get(created["resource_uri"], headers=account.headers).get_json()["state"] == state
    actions = client.get("/api/v1/action/", headers=account.headers).get_json()["objects"]
    assert (actions[0]["action"], actions[0]["state"]) == ("Container Redeploy", "Failed")
    assert actions[0]["path"].endswith("/redeploy/?reuse_volumes=False")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("", True),
        (None, True),
    ],
)
def test_a_query_boolean_is_read_whatever_its_case(
    app: Flask, raw: str | None, value: bool
) -> None:
    query = "" if raw is None else f"?reuse_volumes={raw}"
    with app.test_request_context(f"/x{query}"):
        assert params.query_bool("reuse_volumes", True) is value


@pytest.mark.parametrize("raw", ["yes", "no", "2", "truth", "t"])
def test_a_query_boolean_that_is_not_one_is_refused(app: Flask, raw: str) -> None:
    with app.test_request_context(f"/x?reuse_volumes={raw}"):
        with pytest.raises(InvalidInputError) as refused:
            params.query_bool("reuse_volumes", True)
    assert refused.value.field == "reuse_volumes"


def test_null_labels_are_the_default_as_null_is_for_every_field(
    client: FlaskClient, account: Account, node: str
) -> None:
    created = create(client, account, labels=None)
    assert created["labels"] == {}
