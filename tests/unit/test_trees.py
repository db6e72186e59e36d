"""Both URL trees serve one store, and every URI answered is in the tree of the request."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.unit.helpers import Account, assert_error, create

DC_CONTAINERS = "/api/app/v1/container/"


def dc_get(client: FlaskClient, account: Account, url: str) -> dict[str, Any]:
    response = client.get(url, headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def test_a_container_made_on_the_tutum_tree_is_served_on_the_docker_cloud_tree(
    client: FlaskClient, account: Account, node: str
) -> None:
    made = create(client, account)
    uuid = made["uuid"]
    assert made["resource_uri"] == f"/api/v1/container/{uuid}/"

    fetched = dc_get(client, account, f"{DC_CONTAINERS}{uuid}/")
    assert fetched["resource_uri"] == f"/api/app/v1/container/{uuid}/"
    assert fetched["node"] == f"/api/infra/v1/node/{node}/"

    namespaced = dc_get(client, account, f"/api/app/v1/{account.username}/container/{uuid}/")
    assert namespaced["resource_uri"] == f"/api/app/v1/{account.username}/container/{uuid}/"
    assert namespaced["node"] == f"/api/infra/v1/{account.username}/node/{node}/"


def test_a_create_on_the_docker_cloud_tree_names_its_action_in_the_docker_cloud_header(
    client: FlaskClient, account: Account, node: str
) -> None:
    response = client.post(DC_CONTAINERS, json={"image_name": "busybox"}, headers=account.headers)
    assert response.status_code == 201
    header = response.headers["X-DockerCloud-Action-URI"]
    assert "X-Tutum-Action-URI" not in response.headers
    assert header.startswith("/api/audit/v1/action/")
    action = dc_get(client, account, header)
    assert action["resource_uri"] == header
    assert action["object"] == response.get_json()["resource_uri"]
    tutum = dc_get(client, account, header.replace("/api/audit/v1/", "/api/v1/"))
    assert tutum["object"].startswith("/api/v1/container/")


def test_lists_on_the_docker_cloud_tree_link_within_it(
    client: FlaskClient, account: Account, node: str
) -> None:
    for _ in range(3):
        create(client, account)
    page = dc_get(client, account, f"{DC_CONTAINERS}?limit=2")
    assert page["meta"]["next"].startswith(f"{DC_CONTAINERS}?")
    assert all(o["resource_uri"].startswith(DC_CONTAINERS) for o in page["objects"])
    nodes = dc_get(client, account, "/api/infra/v1/node/")
    assert [n["resource_uri"] for n in nodes["objects"]] == [f"/api/infra/v1/node/{node}/"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/app/v1/someone-else/container/",
        "/api/infra/v1/someone-else/node/",
        "/api/audit/v1/someone-else/action/",
    ],
)
def test_another_namespace_is_a_404(client: FlaskClient, account: Account, path: str) -> None:
    assert_error(client.get(path, headers=account.headers), 404)


def test_the_node_filter_accepts_either_uri_form(
    client: FlaskClient, account: Account, node: str
) -> None:
    made = create(client, account)
    for uri in (f"/api/v1/node/{node}/", f"/api/infra/v1/{account.username}/node/{node}/"):
        listed = dc_get(client, account, f"{DC_CONTAINERS}?node={uri}")
        assert [c["uuid"] for c in listed["objects"]] == [made["uuid"]]
