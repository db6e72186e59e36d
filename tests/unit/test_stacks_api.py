"""Stacks over HTTP through the Flask test client: made whole from a stackfile's services or the
service API's bodies, refused whole with an error naming the service and key, acted on service
by service, exported back as a stackfile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.unit.helpers import SERVICES, Account, assert_error, get_json

pytestmark = pytest.mark.both_backends

STACKS = "/api/v1/stack/"

# What `tutum stack up -f` sends for a two-service stackfile: the YAML loaded, names added.
STACKFILE_SERVICES = [
    {
        "name": "web",
        "image": "busybox",
        "command": "sleep 3600",
        "links": ["db:database"],
        "ports": ["80"],
        "environment": ["MODE=prod"],
        "target_num_containers": 2,
    },
    {"name": "db", "image": "busybox", "expose": [5432], "environment": {"USER": "app"}},
]


def create_stack(client: FlaskClient, account: Account, services: Any) -> dict[str, Any]:
    response = client.post(
        STACKS, json={"name": "shop", "services": services}, headers=account.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def services_of(client: FlaskClient, account: Account, stack: dict[str, Any]) -> dict[str, Any]:
    listed = get_json(client, f"{SERVICES}?stack={stack['resource_uri']}", account)
    return {service["name"]: service for service in listed["objects"]}


def test_a_stack_from_stackfile_services_makes_every_service_linked_by_name(
    client: FlaskClient, account: Account, node: str
) -> None:
    stack = create_stack(client, account, STACKFILE_SERVICES)
    assert stack["state"] == "Not Running"
    assert len(stack["services"]) == 2
    found = services_of(client, account, stack)
    web, db = found["web"], found["db"]
    assert web["stack"] == stack["resource_uri"]
    assert web["run_command"] == "sleep 3600"
    assert web["target_num_containers"] == 2
    assert web["linked_to_service"] == [
        {
            "from_service": web["resource_uri"],
            "to_service": db["resource_uri"],
            "name": "database",
        }
    ]
    assert {"key": "USER", "value": "app"} in db["container_envvars"]
    assert db["container_ports"][0]["published"] is False


def test_a_stack_from_service_bodies_links_by_name(
    client: FlaskClient, account: Account, node: str
) -> None:
    stack = create_stack(
        client,
        account,
        [
            {
                "name": "hello",
                "image": "busybox",
                "target_num_containers": 2,
                "linked_to_service": [{"to_service": "database", "name": "DB"}],
            },
            {"name": "database", "image": "busybox", "run_command": "sleep 1"},
        ],
    )
    found = services_of(client, account, stack)
    assert found["hello"]["linked_to_service"][0]["to_service"] == found["database"]["resource_uri"]


def test_a_stack_update_links_by_name_to_its_live_services_old_and_new(
    client: FlaskClient, account: Account, node: str
) -> None:
    def link(name: str) -> dict[str, str]:
        return {"to_service": name, "name": name}

    def update(*services: dict[str, Any]) -> Any:
        body = {"services": [{"image": "busybox", **service} for service in services]}
        return client.patch(stack["resource_uri"], json=body, headers=account.headers)

    stack = create_stack(client, account, [{"name": "db", "image": "busybox"}])
    changed = update(
        {"name": "db"},
        {"name": "cache", "linked_to_service": [link("db")]},
        {"name": "web", "linked_to_service": [link("db"), link("cache")]},
    )
    assert changed.status_code == 200, changed.get_json()
    found = services_of(client, account, stack)
    uris = {name: found[name]["resource_uri"] for name in ("db", "cache")}
    assert [x["to_service"] for x in found["cache"]["linked_to_service"]] == [uris["db"]]
    assert [x["to_service"] for x in found["web"]["linked_to_service"]] == [
        uris["db"],
        uris["cache"],
    ]
    changed = update({"name": "cache"}, {"name": "web", "linked_to_service": [link("cache")]})
    assert changed.status_code == 200, changed.get_json()
    web = get_json(client, found["web"]["resource_uri"], account)
    assert [x["to_service"] for x in web["linked_to_service"]] == [uris["cache"]]
    refused = update(
        {"name": "cache"}, {"name": "web"}, {"name": "worker", "linked_to_service": [link("db")]}
    )
    data = assert_error(refused, 400, "services.worker.linked_to_service[0].to_service")
    assert "there is no live service db" in data["error"]


@pytest.mark.parametrize(
    ("services", "field"),
    [
        ([{"name": "web", "image": "busybox", "links": ["nowhere"]}], "services.web.links"),
        ([{"name": "web", "image": "busybox", "colour": "red"}], "services.web.colour"),
        ([{"name": "web", "image": "busybox", "mem_limit": "1k"}], "services.web.mem_limit"),
        ([{"name": "web"}], "services.web.image"),
        ([{"image": "busybox"}], "services[0]"),
        (
            [{"name": "a", "image": "busybox"}, {"name": "a", "image": "busybox"}],
            "services[1].name",
        ),
        ("web", "services"),
    ],
)
def test_a_bad_stack_is_a_400_naming_the_service_and_key_and_makes_nothing(
    client: FlaskClient, account: Account, node: str, services: Any, field: str
) -> None:
    response = client.post(
        STACKS, json={"name": "shop", "services": services}, headers=account.headers
    )
    data = assert_error(response, 400)
    assert data["field"].startswith(field), data
    assert get_json(client, STACKS, account)["meta"]["total_count"] == 0
    assert get_json(client, SERVICES, account)["meta"]["total_count"] == 0


def test_a_stack_starts_and_terminates_its_services(
    client: FlaskClient,
    account: Account,
    node: str,
    settle: Callable[[str], None],
) -> None:
    stack = create_stack(client, account, STACKFILE_SERVICES[1:])
    response = client.post(f"{stack['resource_uri']}start/", headers=account.headers)
    assert response.status_code == 202
    action_uri = response.headers["X-Tutum-Action-URI"]
    assert get_json(client, action_uri, account)["state"] == "In progress"
    (db,) = services_of(client, account, stack).values()
    settle(db["uuid"])
    assert get_json(client, stack["resource_uri"], account)["state"] == "Running"
    action = get_json(client, action_uri, account)
    assert (action["action"], action["state"]) == ("Stack Start", "Success")
    assert action["object"] == stack["resource_uri"]
    gone = client.delete(stack["resource_uri"], headers=account.headers)
    assert gone.status_code == 202
    settle(db["uuid"])
    final = get_json(client, stack["resource_uri"], account)
    assert final["state"] == "Terminated"
    assert final["destroyed_datetime"] is not None


def test_a_stack_exports_as_the_stackfile_it_was_made_from(
    client: FlaskClient, account: Account, node: str
) -> None:
    stack = create_stack(client, account, STACKFILE_SERVICES)
    exported = get_json(client, f"{stack['resource_uri']}export/", account)
    assert set(exported) == {"web", "db"}
    assert exported["web"]["links"] == ["db:database"]
    again = client.post(
        STACKS,
        json={"name": "copy", "services": [{"name": k, **v} for k, v in exported.items()]},
        headers=account.headers,
    )
    assert again.status_code == 201, again.get_json()


def test_another_user_s_stack_is_a_404(
    client: FlaskClient, account: Account, make_account: Callable[[str], Account], node: str
) -> None:
    stack = create_stack(client, account, STACKFILE_SERVICES)
    bob = make_account("bob")
    assert_error(client.get(stack["resource_uri"], headers=bob.headers), 404)
    assert_error(client.post(f"{stack['resource_uri']}start/", headers=bob.headers), 404)


def test_a_stack_starts_linked_services_first_and_links_land_beside_them(
    client: FlaskClient,
    account: Account,
    register_node: Callable[..., str],
    settle: Callable[[str], None],
) -> None:
    for _ in range(3):
        register_node()
    stack = create_stack(client, account, STACKFILE_SERVICES)
    response = client.post(f"{stack['resource_uri']}start/", headers=account.headers)
    assert response.status_code == 202, response.get_json()
    found = services_of(client, account, stack)
    for service in found.values():
        settle(service["uuid"])
    found = services_of(client, account, stack)
    assert {s["state"] for s in found.values()} == {"Running"}
    (db_container,) = found["db"]["containers"]
    db_node = get_json(client, db_container, account)["node"]
    web = [get_json(client, uri, account) for uri in found["web"]["containers"]]
    assert len(web) == 2 and {c["node"] for c in web} == {db_node}
    variables = {v["key"]: v["value"] for v in web[0]["container_envvars"]}
    assert variables["DATABASE_PORT_5432_TCP_ADDR"] == found["db"]["unique_name"]
    assert variables["DATABASE_ENV_USER"] == "app"
    assert variables["MODE"] == "prod"


def test_a_stack_is_found_by_a_uuid_prefix_and_only_by_its_own(
    client: FlaskClient, account: Account, node: str
) -> None:
    """The SDKs' fetch_remote_stack asks uuid__startswith=<what was typed> first, a name too."""
    stack = create_stack(client, account, STACKFILE_SERVICES)
    assert (
        get_json(client, f"{STACKS}?uuid__startswith={stack['uuid'][:8].upper()}", account)["meta"][
            "total_count"
        ]
        == 1
    )
    assert get_json(client, f"{STACKS}?uuid__startswith=shop", account)["meta"]["total_count"] == 0
