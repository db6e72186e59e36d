"""The node list narrows on the filters the SDKs send (`uuid__startswith` for a short id)."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient

from tests.unit.conftest import Account

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
        assert listed(client, account, url, uuid__startswith="dddd") == []
        assert listed(client, account, url, uuid=THIRD) == [THIRD]
        assert listed(client, account, url, state="Deployed") == [FIRST, SECOND, THIRD]
        assert listed(client, account, url, state="Terminated") == []
        assert listed(client, account, url, unknown="ignored") == [FIRST, SECOND, THIRD]


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
