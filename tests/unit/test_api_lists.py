"""Container lists through the Flask test client: paging (limit, offset, next and previous,
the total on every page) and filters (state, names, uuids, combined, unknown and service ones)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from tests.unit.helpers import CONTAINERS, UNKNOWN_UUID, Account, assert_error, create, get_json

pytestmark = pytest.mark.both_backends

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
def test_service_filters_match_no_plain_container(
    client: FlaskClient, account: Account, three_containers: list[dict[str, Any]], query: str
) -> None:
    assert uuids_for(client, account, query) == []
