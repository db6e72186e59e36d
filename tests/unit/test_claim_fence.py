"""The fence every node operation passes: the reporter grants a claim only for the container's
newest operation Action, to the node the container is placed on, while the Action is open."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from controlplane.core.lifecycle import Action
from controlplane.core.messages import ClaimRequest
from controlplane.db import actions
from tests.unit.helpers import Account, accept, create


def claim(
    session: Session, action_uuid: str, container_uuid: str, node_uuid: str
) -> tuple[str | None, bool, bool, str | None]:
    request = ClaimRequest(
        action_uuid=action_uuid, container_uuid=container_uuid, node_uuid=node_uuid
    )
    record, moved, verdict = actions.claim_action(session, request)
    return (record.state if record else None), moved, verdict.granted, verdict.reason


def test_the_first_claim_moves_a_pending_action_in_progress(
    client: FlaskClient, account: Account, node: str, session: Session
) -> None:
    container = create(client, account)["uuid"]
    start = accept(session, account, container, Action.START)
    assert claim(session, start, container, node) == ("In progress", True, True, None)


def test_a_redelivered_task_of_an_action_in_progress_is_granted_again_without_a_move(
    client: FlaskClient, account: Account, node: str, session: Session
) -> None:
    container = create(client, account)["uuid"]
    start = accept(session, account, container, Action.START)
    claim(session, start, container, node)
    assert claim(session, start, container, node) == ("In progress", False, True, None)


def test_a_claim_after_the_action_was_closed_is_refused(
    client: FlaskClient, account: Account, node: str, session: Session
) -> None:
    """The stuck-operation timeout closed the Action while its task waited in the broker."""
    container = create(client, account)["uuid"]
    start = accept(session, account, container, Action.START)
    actions.finish_action(session, action_uuid=start, error="the node did not finish the start")
    session.commit()
    state, moved, granted, reason = claim(session, start, container, node)
    assert (state, moved, granted) == ("Failed", False, False)
    assert reason == f"action {start} is Failed"


def test_a_claim_from_another_node_is_refused(
    client: FlaskClient,
    account: Account,
    node: str,
    session: Session,
    register_node: Callable[..., str],
) -> None:
    other = register_node(name="node-2")
    container = create(client, account, node=node)["uuid"]
    start = accept(session, account, container, Action.START)
    state, moved, granted, reason = claim(session, start, container, other)
    assert (state, moved, granted) == ("Pending", False, False)
    assert reason == f"action {start} is not for container {container} on node {other}"


def test_a_claim_naming_another_container_is_refused(
    client: FlaskClient, account: Account, node: str, session: Session
) -> None:
    container = create(client, account)["uuid"]
    other = create(client, account)["uuid"]
    start = accept(session, account, container, Action.START)
    assert claim(session, start, other, node)[:3] == ("Pending", False, False)


def test_a_claim_of_an_action_the_user_has_since_overtaken_is_refused(
    client: FlaskClient,
    account: Account,
    node: str,
    session: Session,
    report: Callable[..., bool],
) -> None:
    """A start whose task comes back late, after the container ran and the user stopped it,
    must not run: a newer Action stands for the user's intent."""
    container = create(client, account)["uuid"]
    start = accept(session, account, container, Action.START)
    claim(session, start, container, node)
    report(container, "Running", node_uuid=node, action_uuid=start)
    stop = accept(session, account, container, Action.STOP)
    state, moved, granted, reason = claim(session, start, container, node)
    assert (state, moved, granted) == ("Success", False, False)
    assert reason == f"superseded by action {stop}"
    assert claim(session, stop, container, node)[2] is True
