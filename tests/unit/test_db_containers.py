"""Container records and the actions on them (controlplane/db/containers.py): accepted and
refused actions with their audit trail, and the list filters each read from an index."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.core.errors import ContainerNotFoundError, TransitionRefusedError
from controlplane.core.lifecycle import Action, State
from controlplane.db import containers
from controlplane.db.models import ActionRecord
from tests.unit.helpers import REQUEST, Account, action, apply, query_plans, state_of


def action_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ActionRecord)) or 0


# --- accepting actions -----------------------------------------------------------------------


def test_a_new_container_is_in_init_with_a_finished_create_action(
    session: Session, container: str
) -> None:
    assert state_of(session, container) is State.INIT
    records = session.scalars(select(ActionRecord)).all()
    assert [(r.name, r.state, r.end_date is not None) for r in records] == [
        ("Container Create", "Success", True)
    ]


def test_an_accepted_action_moves_to_the_transitional_state_and_opens_an_action(
    session: Session, account: Account, container: str
) -> None:
    record, record_action, rollback = containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
    )
    assert rollback is State.INIT
    assert record.state == State.STARTING.value
    assert state_of(session, container) is State.STARTING
    opened = action(session, record_action.uuid)
    assert (opened.name, opened.state, opened.end_date) == ("Container Start", "Pending", None)


@pytest.mark.parametrize("refused", [Action.STOP, Action.START], ids=str)
def test_a_refused_action_raises_and_changes_nothing(
    session: Session, account: Account, container: str, node: str, refused: Action
) -> None:
    # Running refuses start; Init refuses stop. Put the container where `refused` is refused.
    if refused is Action.START:
        assert apply(session, container, State.RUNNING, 1_000, node)
    current = state_of(session, container)
    before = action_count(session)
    with pytest.raises(TransitionRefusedError) as error:
        containers.begin_action(
            session, owner_id=account.user_id, uuid=container, action=refused, request=REQUEST
        )
    assert error.value.message == f"cannot {refused} container {container} in state {current}"
    assert state_of(session, container) is current
    assert action_count(session) == before


def test_a_second_start_while_starting_is_refused(
    session: Session, account: Account, container: str
) -> None:
    containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
    )
    before = action_count(session)
    with pytest.raises(TransitionRefusedError):
        containers.begin_action(
            session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
        )
    assert state_of(session, container) is State.STARTING
    assert action_count(session) == before


def test_an_action_on_another_owners_container_is_not_found(
    session: Session, make_account: Callable[[str], Account], container: str
) -> None:
    bob = make_account("bob")
    with pytest.raises(ContainerNotFoundError):
        containers.begin_action(
            session, owner_id=bob.user_id, uuid=container, action=Action.START, request=REQUEST
        )
    assert state_of(session, container) is State.INIT


def test_an_abandoned_action_returns_the_container_and_fails_the_action(
    session: Session, account: Account, container: str
) -> None:
    record, opened, rollback = containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
    )
    containers.abandon_action(
        session, container=record, action=opened, rollback_state=rollback, reason="broker down"
    )
    assert state_of(session, container) is State.INIT
    closed = action(session, opened.uuid)
    assert (closed.state, closed.reason) == ("Failed", "broker down")
    assert closed.end_date is not None


def test_a_redeploy_is_accepted_from_running_and_named_in_the_audit_trail(
    session: Session, account: Account, container: str, node: str
) -> None:
    assert apply(session, container, State.RUNNING, 1_000, node)
    _, opened, rollback = containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.REDEPLOY, request=REQUEST
    )
    assert rollback is State.RUNNING
    assert state_of(session, container) is State.STARTING
    assert action(session, opened.uuid).name == "Container Redeploy"


# --- query plans at scale --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (containers.ContainerFilters(), "ix_containers_owner_order"),
        (containers.ContainerFilters(state=State.RUNNING.value), "ix_containers_owner_state"),
        (containers.ContainerFilters(name="web"), "ix_containers_owner_name"),
        (containers.ContainerFilters(uuid_prefix="0a1b"), "ix_containers_owner_uuid"),
    ],
    ids=["none", "state", "name", "uuid_prefix"],
)
def test_each_list_filter_is_read_from_an_index_that_narrows_on_it(
    session: Session, account: Account, node: str, filters: containers.ContainerFilters, index: str
) -> None:
    """Without these, a filtered list of a user with 100k containers read all of them
    (SQLite prefers the index that gives the list order over one that narrows)."""
    plans = query_plans(
        session,
        lambda: containers.list_containers(
            session, owner_id=account.user_id, filters=filters, limit=25, offset=0
        ),
    )
    assert plans and all(index in plan for plan in plans), plans


def test_the_node_filter_reads_the_owners_containers_of_that_node_only(
    session: Session, account: Account, node: str
) -> None:
    plans = query_plans(
        session,
        lambda: containers.list_containers(
            session,
            owner_id=account.user_id,
            filters=containers.ContainerFilters(node_uuid=node),
            limit=25,
            offset=0,
        ),
    )
    assert plans and all("ix_containers_owner_node (owner_id=? AND node_id=?)" in p for p in plans)
