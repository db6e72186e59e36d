"""Actions over HTTP: fields, filters, cancel before the node claims, retry after a failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from controlplane.core.lifecycle import Action
from controlplane.core.messages import ClaimRequest
from controlplane.db import actions
from tests.unit.helpers import Account, accept, assert_error, create, get_json

pytestmark = pytest.mark.both_backends


def claim(action_uuid: str, container: dict[str, Any], node: str) -> ClaimRequest:
    """The claim the container's own node sends for the action."""
    return ClaimRequest(action_uuid=action_uuid, container_uuid=container["uuid"], node_uuid=node)


def action_url(uuid: str, verb: str = "") -> str:
    return f"/api/v1/action/{uuid}/{verb}"


def test_an_action_names_its_user_and_what_can_be_done_with_it(
    client: FlaskClient, account: Account, node: str, session: Session
) -> None:
    container = create(client, account)
    pending = accept(session, account, container["uuid"], Action.START)
    body = get_json(client, action_url(pending), account)
    assert body["user"] == account.username
    assert body["state"] == "Pending"
    assert (body["can_be_canceled"], body["can_be_retried"]) == (True, False)


def test_canceling_a_pending_action_returns_the_container_to_its_state(
    client: FlaskClient, account: Account, node: str, session: Session
) -> None:
    container = create(client, account)
    pending = accept(session, account, container["uuid"], Action.START)
    response = client.post(action_url(pending, "cancel/"), headers=account.headers)
    assert response.status_code == 202
    assert response.headers["X-Tutum-Action-URI"] == action_url(pending)
    body = response.get_json()
    assert (body["uuid"], body["state"], body["can_be_canceled"]) == (pending, "Canceled", False)
    assert body["end_date"] is not None
    assert get_json(client, container["resource_uri"], account)["state"] == "Init"
    record, moved, verdict = actions.claim_action(session, claim(pending, container, node))
    assert record is not None and (record.state, moved) == ("Canceled", False)
    assert not verdict.granted


def test_an_action_the_node_claimed_can_no_longer_be_canceled(
    client: FlaskClient, account: Account, node: str, session: Session
) -> None:
    container = create(client, account)
    pending = accept(session, account, container["uuid"], Action.START)
    record, moved, verdict = actions.claim_action(session, claim(pending, container, node))
    assert record is not None and (record.state, moved) == ("In progress", True)
    assert verdict.granted
    assert_error(client.post(action_url(pending, "cancel/"), headers=account.headers), 409)
    assert get_json(client, action_url(pending), account)["state"] == "In progress"
    assert get_json(client, container["resource_uri"], account)["state"] == "Starting"


def test_a_claim_of_an_unknown_action_is_refused(session: Session) -> None:
    unknown = ClaimRequest(action_uuid="no-such-action", container_uuid="c", node_uuid="n")
    record, moved, verdict = actions.claim_action(session, unknown)
    assert (record, moved, verdict.granted) == (None, False, False)
    assert verdict.reason == "action no-such-action is unknown"


def test_a_failed_start_can_be_retried_under_the_same_action(
    client: FlaskClient, account: Account, node: str
) -> None:
    container = create(client, account)
    # The broker URL points at a closed port: the start is undone and its action Failed.
    started = client.post(f"{container['resource_uri']}start/", headers=account.headers)
    assert started.status_code == 503
    [failed] = [
        a for a in get_json(client, "/api/v1/action/", account)["objects"] if a["state"] == "Failed"
    ]
    assert failed["can_be_retried"] is True
    retried = client.post(f"{failed['resource_uri']}retry/", headers=account.headers)
    assert_error(retried, 503)
    again = get_json(client, failed["resource_uri"], account)
    assert again["uuid"] == failed["uuid"] and again["state"] == "Failed"
    assert get_json(client, container["resource_uri"], account)["state"] == "Init"


@pytest.mark.parametrize("verb", ["retry/", "cancel/"])
def test_a_finished_create_can_be_neither_retried_nor_canceled(
    client: FlaskClient, account: Account, node: str, verb: str
) -> None:
    response = client.post(
        "/api/v1/container/", json={"image_name": "busybox"}, headers=account.headers
    )
    created = response.headers["X-Tutum-Action-URI"]
    assert_error(client.post(created + verb, headers=account.headers), 409)


def test_a_retry_is_refused_when_the_container_moved_on(
    client: FlaskClient,
    account: Account,
    node: str,
    session: Session,
    report: Callable[..., bool],
) -> None:
    container = create(client, account)
    client.post(f"{container['resource_uri']}start/", headers=account.headers)
    failed = get_json(client, "/api/v1/action/?state=Failed", account)["objects"][0]
    assert report(container["uuid"], "Running", node_uuid=node)
    assert get_json(client, failed["resource_uri"], account)["can_be_retried"] is False
    assert_error(client.post(f"{failed['resource_uri']}retry/", headers=account.headers), 409)


def test_another_users_action_cannot_be_canceled(
    client: FlaskClient,
    account: Account,
    node: str,
    session: Session,
    make_account: Callable[[str], Account],
) -> None:
    container = create(client, account)
    pending = accept(session, account, container["uuid"], Action.START)
    other = make_account("mallory")
    assert_error(client.post(action_url(pending, "cancel/"), headers=other.headers), 404)
    assert get_json(client, action_url(pending), account)["state"] == "Pending"


def listed_actions(client: FlaskClient, account: Account, query: str) -> list[dict[str, Any]]:
    return list(get_json(client, f"/api/v1/action/?{query}", account)["objects"])


def test_actions_filter_by_dates_in_either_form(
    client: FlaskClient, account: Account, node: str
) -> None:
    create(client, account)
    assert len(listed_actions(client, account, "start_date__gte=2000-01-01")) == 1
    assert listed_actions(client, account, "start_date__gte=2999-01-01T00:00:00%2B00:00") == []
    assert (
        len(
            listed_actions(
                client, account, "end_date__lte=Fri,%2001%20Jan%202999%2000:00:00%20%2B0000"
            )
        )
        == 1
    )
    assert listed_actions(client, account, "start_date__lte=2000-01-01") == []


@pytest.mark.parametrize(
    "query, field",
    [("start_date__gte=yesterday", "start_date__gte"), ("state=Done", "state")],
)
def test_bad_action_filters_are_a_400(
    client: FlaskClient, account: Account, query: str, field: str
) -> None:
    assert_error(client.get(f"/api/v1/action/?{query}", headers=account.headers), 400, field)


def test_actions_filter_by_state(client: FlaskClient, account: Account, node: str) -> None:
    container = create(client, account)
    client.post(f"{container['resource_uri']}start/", headers=account.headers)
    assert [a["action"] for a in listed_actions(client, account, "state=Failed")] == [
        "Container Start"
    ]
    assert [a["action"] for a in listed_actions(client, account, "state=Success")] == [
        "Container Create"
    ]


# --- the list: newest first, and short ids -----------------------------------------------------


def test_actions_are_listed_newest_first_as_the_clis_print_the_last_ones(
    client: FlaskClient, account: Account, node: str, session: Session
) -> None:
    """`tutum action ls -l 3` and `docker-cloud action ls` print the first page as "the last N
    actions": the newest must come first, on every page, and paging must neither skip nor
    repeat one."""
    made = []  # oldest first: each container's create, then its start
    for index in range(4):
        container = create(client, account, name=f"web{index}")
        [created] = listed_actions(client, account, f"object={container['uuid']}")
        made += [created["uuid"], accept(session, account, container["uuid"], Action.START)]
    newest_first = made[::-1]

    listed = [a["uuid"] for a in listed_actions(client, account, "")]
    assert listed == newest_first
    # The SDKs' way of paging (offset += meta.limit), and the next links, give the same order.
    walked: list[str] = []
    url: str | None = "/api/v1/action/?limit=3"
    while url is not None:
        page = get_json(client, url, account)
        walked.extend(a["uuid"] for a in page["objects"])
        url = page["meta"]["next"]
    assert walked == newest_first
    second = listed_actions(client, account, "limit=3&offset=3")
    assert [a["uuid"] for a in second] == newest_first[3:6]
    # Filters keep the order: the starts alone, and one container's start before its create.
    starts = listed_actions(client, account, "state=Pending")
    assert [a["uuid"] for a in starts] == newest_first[::2]
    last = listed_actions(client, account, f"object={container['uuid']}")
    assert [a["action"] for a in last] == ["Container Start", "Container Create"]


def test_a_short_action_uuid_finds_that_action_in_any_case(
    client: FlaskClient,
    account: Account,
    node: str,
    make_account: Callable[[str], Account],
) -> None:
    """What `tutum action inspect <short uuid>` sends (Utils.fetch_remote_action): ignored, the
    filter listed every action and the CLI refused them as ambiguous."""
    for index in range(3):
        create(client, account, name=f"web{index}")
    every = [a["uuid"] for a in listed_actions(client, account, "")]
    wanted = every[1]

    def prefixed(prefix: str, who: Account = account) -> list[str]:
        url = f"/api/v1/action/?uuid__startswith={prefix}"
        return [a["uuid"] for a in get_json(client, url, who)["objects"]]

    assert prefixed(wanted[:8]) == [wanted]
    assert prefixed(wanted[:8].upper()) == [wanted]
    assert prefixed(wanted) == [wanted]
    assert prefixed(f"{wanted[:8]}x") == []
    assert prefixed("%25") == prefixed("_") == []
    assert prefixed("") == every
    assert prefixed(wanted[:8], make_account("mallory")) == []
    # The Docker Cloud tree reads the same filter.
    url = f"/api/audit/v1/action/?uuid__startswith={wanted[:8]}"
    assert [a["uuid"] for a in get_json(client, url, account)["objects"]] == [wanted]
