"""Nodes over HTTP: the list narrows on the filters the SDKs send (`uuid__startswith` for a
short id); creates are placed by node or tags; an Unreachable node takes nothing and refuses
actions on its containers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.test import TestResponse

from controlplane.db import nodes
from controlplane.db.engine import Database, utcnow
from controlplane.db.models import Node
from tests.unit.helpers import Account

FIRST = "aaaaaaaa-1111-4111-8111-111111111111"
SECOND = "aaaabbbb-2222-4222-8222-222222222222"
THIRD = "cccccccc-3333-4333-8333-333333333333"


def listed(client: FlaskClient, account: Account, url: str, **params: str) -> list[str]:
    response = client.get(url, headers=account.headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return [node["uuid"] for node in response.get_json()["objects"]]


def test_node_list_filters_by_uuid_prefix_uuid_and_state(
    client: FlaskClient, account: Account, register_node: Callable[..., str]
) -> None:
    for node_uuid in (FIRST, SECOND, THIRD):
        register_node(node_uuid)

    for url in ("/api/v1/node/", "/api/infra/v1/node/"):
        assert listed(client, account, url) == [FIRST, SECOND, THIRD]
        assert listed(client, account, url, uuid__startswith="aaaa") == [FIRST, SECOND]
        assert listed(client, account, url, uuid__startswith="aaaab") == [SECOND]
        # In any case, as for containers and actions (the old LIKE ignored case on SQLite only).
        assert listed(client, account, url, uuid__startswith="AAAAB") == [SECOND]
        assert listed(client, account, url, uuid__startswith="aaaa_") == []
        assert listed(client, account, url, uuid__startswith="dddd") == []
        assert listed(client, account, url, uuid=THIRD) == [THIRD]
        assert listed(client, account, url, state="Deployed") == [FIRST, SECOND, THIRD]
        assert listed(client, account, url, state="Terminated") == []
        assert listed(client, account, url, unknown="ignored") == [FIRST, SECOND, THIRD]
        bogus = client.get(url, headers=account.headers, query_string={"state": "Deployd"})
        assert bogus.status_code == 400
        assert bogus.get_json()["field"] == "state"


def test_node_list_pages_keep_the_filter(
    client: FlaskClient, account: Account, register_node: Callable[..., str]
) -> None:
    for node_uuid in (FIRST, SECOND, THIRD):
        register_node(node_uuid)

    response = client.get(
        "/api/v1/node/",
        headers=account.headers,
        query_string={"uuid__startswith": "aaaa", "limit": 1},
    )

    meta = response.get_json()["meta"]
    assert (meta["total_count"], meta["next"]) == (
        2,
        "/api/v1/node/?uuid__startswith=aaaa&limit=1&offset=1",
    )


# --- placement and unreachable nodes over HTTP ------------------------------------------------

CONTAINERS = "/api/v1/container/"


def post_create(client: FlaskClient, account: Account, **fields: Any) -> TestResponse:
    return client.post(
        CONTAINERS, json={"image_name": "busybox", **fields}, headers=account.headers
    )


def container_count(client: FlaskClient, account: Account) -> int:
    response = client.get(CONTAINERS, headers=account.headers)
    return int(response.get_json()["meta"]["total_count"])


def make_unreachable(database: Database, node_uuid: str) -> None:
    with database.session() as session:
        session.execute(
            update(Node).where(Node.uuid == node_uuid).values(last_seen=utcnow() - timedelta(1))
        )
        session.commit()
        nodes.expire_node_leases(session, cutoff=utcnow())


def test_a_create_goes_to_the_node_it_names_in_either_tree(
    client: FlaskClient, account: Account, register_node: Callable[..., str]
) -> None:
    register_node(FIRST)
    register_node(SECOND)
    for named in (SECOND, f"/api/infra/v1/node/{SECOND}/", f"/api/v1/node/{SECOND}/"):
        response = post_create(client, account, node=named)
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["node"] == f"/api/v1/node/{SECOND}/"


def test_a_create_goes_to_a_node_with_every_tag_asked_for(
    client: FlaskClient, account: Account, register_node: Callable[..., str]
) -> None:
    register_node(FIRST, tags=["ssd"])
    register_node(SECOND, tags=["ssd", "eu"])
    response = post_create(client, account, tags=["eu", "ssd"])
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["node"] == f"/api/v1/node/{SECOND}/"
    node = client.get(f"/api/v1/node/{SECOND}/", headers=account.headers).get_json()
    assert node["tags"] == [{"name": "eu"}, {"name": "ssd"}]


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"node": THIRD}, 400, "node"),
        ({"tags": ["gpu"]}, 503, "no node has all the tags gpu"),
        ({"node": FIRST, "tags": ["gpu"]}, 503, "lacks the tags gpu"),
    ],
    ids=["unknown node", "tag nobody has", "named node without the tag"],
)
def test_a_create_no_node_can_take_is_refused_and_writes_nothing(
    client: FlaskClient,
    account: Account,
    register_node: Callable[..., str],
    fields: dict[str, Any],
    status: int,
    says: str,
) -> None:
    register_node(FIRST)
    response = post_create(client, account, **fields)
    assert response.status_code == status, response.get_json()
    assert says in response.get_json()["error"]
    assert container_count(client, account) == 0


def test_an_unreachable_node_takes_no_container_and_refuses_actions(
    client: FlaskClient, account: Account, register_node: Callable[..., str], database: Database
) -> None:
    register_node(FIRST)
    created = post_create(client, account).get_json()
    make_unreachable(database, FIRST)

    refused = post_create(client, account, node=FIRST)
    assert (refused.status_code, refused.get_json()["code"]) == (503, "node-unreachable-error")
    assert post_create(client, account).status_code == 503
    started = client.post(f"{created['resource_uri']}start/", headers=account.headers)
    deleted = client.delete(created["resource_uri"], headers=account.headers)
    for response in (started, deleted):
        assert (response.status_code, response.get_json()["code"]) == (
            503,
            "node-unreachable-error",
        )

    shown = client.get(created["resource_uri"], headers=account.headers).get_json()
    assert (shown["state"], shown["synchronized"]) == ("Init", False)
    actions = client.get("/api/v1/action/", headers=account.headers).get_json()["objects"]
    assert [a["action"] for a in actions] == ["Container Create"]
    assert container_count(client, account) == 1

    register_node(FIRST)  # the node's next heartbeat
    back = client.get(created["resource_uri"], headers=account.headers).get_json()
    assert back["synchronized"] is True
