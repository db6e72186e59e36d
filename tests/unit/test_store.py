"""The store's conditional writes: accepted and refused actions, report ordering, placement."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from controlplane.core.errors import (
    ContainerNotFoundError,
    NodeUnreachableError,
    TransitionRefusedError,
)
from controlplane.core.lifecycle import Action, ActionState, State
from controlplane.core.messages import ContainerReport
from controlplane.core.scheduler import choose_node
from controlplane.db import containers, nodes, observations
from controlplane.db.engine import new_uuid, utcnow
from controlplane.db.models import ActionRecord, Container, Node
from tests.unit.helpers import REQUEST, Account, action, add_container, apply, state_of


def action_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ActionRecord)) or 0


@pytest.fixture
def container(session: Session, account: Account, node: str) -> str:
    return add_container(session, owner_id=account.user_id, node_uuid=node)


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


# --- applying reports ------------------------------------------------------------------------


def test_a_newer_report_is_applied_with_its_dates(
    session: Session, container: str, node: str
) -> None:
    assert apply(session, container, State.RUNNING, 1_000_000_000, node, docker_id="abc")
    row = session.scalar(select(Container).where(Container.uuid == container))
    assert row is not None
    assert (row.state, row.observed_ns, row.docker_id) == ("Running", 1_000_000_000, "abc")
    assert row.started_datetime is not None and row.deployed_datetime is not None

    assert apply(session, container, State.STOPPED, 2_000_000_000, node, exit_code=3)
    session.expire_all()
    assert (row.state, row.exit_code) == ("Stopped", 3)
    assert row.stopped_datetime is not None


def test_a_duplicate_report_is_ignored(session: Session, container: str, node: str) -> None:
    assert apply(session, container, State.RUNNING, 1_000, node)
    assert not apply(session, container, State.RUNNING, 1_000, node)
    assert not apply(session, container, State.STOPPED, 1_000, node)
    assert state_of(session, container) is State.RUNNING


def test_an_older_report_arriving_after_a_newer_one_is_ignored(
    session: Session, container: str, node: str
) -> None:
    assert apply(session, container, State.STOPPED, 2_000, node, exit_code=0)
    assert not apply(session, container, State.RUNNING, 1_000, node)
    assert state_of(session, container) is State.STOPPED


def test_a_report_of_a_transitional_state_is_ignored(
    session: Session, container: str, node: str
) -> None:
    assert not apply(session, container, State.STARTING, 1_000, node)
    assert state_of(session, container) is State.INIT


def test_a_terminated_container_stays_terminated(
    session: Session, container: str, node: str
) -> None:
    assert apply(session, container, State.TERMINATED, 1_000, node)
    assert not apply(session, container, State.RUNNING, 2_000, node)
    assert state_of(session, container) is State.TERMINATED


def test_a_report_for_an_unknown_container_changes_nothing(session: Session, node: str) -> None:
    assert not apply(session, new_uuid(), State.RUNNING, 1_000, node)


def test_a_success_report_closes_its_action_as_success(
    session: Session, account: Account, container: str, node: str
) -> None:
    _, opened, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
    )
    assert apply(session, container, State.RUNNING, 1_000, node, action_uuid=opened.uuid)
    closed = action(session, opened.uuid)
    assert (closed.state, closed.reason) == (ActionState.SUCCESS.value, None)
    assert closed.end_date is not None
    assert state_of(session, container) is State.RUNNING


def test_a_failure_report_returns_the_container_to_its_rollback_state(
    session: Session, account: Account, container: str, node: str
) -> None:
    _, opened, rollback = containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
    )
    assert apply(
        session, container, rollback, 1_000, node, action_uuid=opened.uuid, error="no such image"
    )
    assert state_of(session, container) is State.INIT
    closed = action(session, opened.uuid)
    assert (closed.state, closed.reason) == (ActionState.FAILED.value, "no such image")


def test_a_failed_stop_leaves_the_container_running(
    session: Session, account: Account, container: str, node: str
) -> None:
    assert apply(session, container, State.RUNNING, 1_000, node)
    _, opened, rollback = containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.STOP, request=REQUEST
    )
    assert rollback is State.RUNNING
    assert apply(session, container, rollback, 2_000, node, action_uuid=opened.uuid, error="boom")
    assert state_of(session, container) is State.RUNNING
    assert action(session, opened.uuid).state == ActionState.FAILED.value


def test_a_stale_report_still_closes_its_action(
    session: Session, account: Account, container: str, node: str
) -> None:
    _, opened, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
    )
    assert apply(session, container, State.RUNNING, 2_000, node)
    assert not apply(session, container, State.RUNNING, 1_000, node, action_uuid=opened.uuid)
    assert action(session, opened.uuid).state == ActionState.SUCCESS.value


def test_a_closed_action_is_not_reopened_by_a_redelivered_report(
    session: Session, account: Account, container: str, node: str
) -> None:
    _, opened, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
    )
    apply(session, container, State.INIT, 1_000, node, action_uuid=opened.uuid, error="first")
    apply(session, container, State.RUNNING, 2_000, node, action_uuid=opened.uuid)
    closed = action(session, opened.uuid)
    assert (closed.state, closed.reason) == (ActionState.FAILED.value, "first")


def bound_ports_of(session: Session, uuid: str) -> list[dict[str, object]]:
    session.expire_all()
    return list(session.scalar(select(Container.bound_ports).where(Container.uuid == uuid)))


BOUND = [{"protocol": "tcp", "inner_port": 80, "host_ip": "127.0.0.1", "outer_port": 49153}]


def test_the_bound_ports_of_a_run_are_kept_until_it_stops(
    session: Session, container: str, node: str
) -> None:
    assert bound_ports_of(session, container) == []
    assert apply(session, container, State.RUNNING, 1_000, node, ports=BOUND)
    assert bound_ports_of(session, container) == BOUND
    assert apply(session, container, State.STOPPED, 2_000, node, ports=[])
    assert bound_ports_of(session, container) == []


def test_a_report_that_observed_no_ports_leaves_them_alone(
    session: Session, account: Account, container: str, node: str
) -> None:
    assert apply(session, container, State.RUNNING, 1_000, node, ports=BOUND)
    _, opened, rollback = containers.begin_action(
        session, owner_id=account.user_id, uuid=container, action=Action.STOP, request=REQUEST
    )
    assert apply(session, container, rollback, 2_000, node, action_uuid=opened.uuid, error="x")
    assert bound_ports_of(session, container) == BOUND


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


# --- placement -------------------------------------------------------------------------------


def test_node_loads_count_only_containers_that_are_not_terminated(
    session: Session, account: Account, register_node: Callable[..., str]
) -> None:
    busy = register_node("00000000-0000-4000-8000-000000000001", name="busy")
    idle = register_node("00000000-0000-4000-8000-000000000002", name="idle")
    live = [add_container(session, owner_id=account.user_id, node_uuid=busy) for _ in range(2)]
    gone = add_container(session, owner_id=account.user_id, node_uuid=busy)
    apply(session, gone, State.TERMINATED, 1_000, busy)
    apply(session, live[0], State.RUNNING, 1_000, busy)
    loads = {load.uuid: load.containers for load in nodes.node_loads(session)}
    assert loads == {busy: 2, idle: 0}


def test_node_loads_are_empty_without_nodes(session: Session) -> None:
    assert nodes.node_loads(session) == []


def test_the_scheduler_places_on_the_emptiest_registered_node(
    session: Session, account: Account, register_node: Callable[..., str]
) -> None:
    first = register_node("00000000-0000-4000-8000-000000000001")
    second = register_node("00000000-0000-4000-8000-000000000002")
    add_container(session, owner_id=account.user_id, node_uuid=first)
    assert choose_node(nodes.node_loads(session)).uuid == second


def test_node_loads_carry_the_reported_tags_and_state(
    session: Session, register_node: Callable[..., str]
) -> None:
    node = register_node(tags=["ssd", "eu"])
    (loaded,) = nodes.node_loads(session)
    assert (loaded.uuid, loaded.state, loaded.tags) == (node, "Deployed", frozenset({"ssd", "eu"}))


# --- node leases -----------------------------------------------------------------------------


def seen_at(session: Session, node_uuid: str, when: datetime) -> None:
    session.execute(update(Node).where(Node.uuid == node_uuid).values(last_seen=when))
    session.commit()


def test_a_batch_applies_two_reports_on_one_container_in_order(
    session: Session, container: str, node: str
) -> None:
    def report(state: State, observed_ns: int) -> ContainerReport:
        return ContainerReport(
            container_uuid=container, state=state.value, observed_ns=observed_ns, node_uuid=node
        )

    outcomes = observations.apply_container_reports(
        session,
        [report(State.RUNNING, 100), report(State.STOPPED, 200), report(State.TERMINATED, 300)],
    )
    assert [outcome.changed for outcome in outcomes] == [True, True, True]
    assert state_of(session, container) is State.TERMINATED


def node_state(session: Session, node_uuid: str) -> str:
    return str(session.scalar(select(Node.state).where(Node.uuid == node_uuid)))


def test_a_node_silent_past_the_cutoff_becomes_unreachable_once(
    session: Session, register_node: Callable[..., str]
) -> None:
    silent = register_node()
    fresh = register_node()
    seen_at(session, silent, utcnow() - timedelta(seconds=60))
    cutoff = utcnow() - timedelta(seconds=30)
    moved = nodes.expire_node_leases(session, cutoff=cutoff)
    assert [node.uuid for node in moved] == [silent]
    assert (node_state(session, silent), node_state(session, fresh)) == ("Unreachable", "Deployed")
    # A second sweeper (another reporter) finds nothing left to move, so announces nothing.
    assert nodes.expire_node_leases(session, cutoff=cutoff) == []


def test_a_heartbeat_brings_an_unreachable_node_back_deployed(
    session: Session, register_node: Callable[..., str]
) -> None:
    node = register_node()
    seen_at(session, node, utcnow() - timedelta(seconds=60))
    nodes.expire_node_leases(session, cutoff=utcnow())
    register_node(node)
    session.expire_all()
    assert node_state(session, node) == "Deployed"


def test_an_action_on_a_container_of_an_unreachable_node_is_refused_and_changes_nothing(
    session: Session, account: Account, node: str
) -> None:
    container = add_container(session, owner_id=account.user_id, node_uuid=node)
    nodes.expire_node_leases(session, cutoff=utcnow() + timedelta(seconds=1))
    with pytest.raises(NodeUnreachableError):
        containers.begin_action(
            session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
        )
    assert state_of(session, container) is State.INIT
    assert session.scalar(select(func.count()).select_from(ActionRecord)) == 1  # the create


# --- query plans at scale -------------------------------------------------------------------


def query_plans(session: Session, work: Callable[[], object]) -> list[str]:
    """SQLite's plan of every query `work` runs (EXPLAIN QUERY PLAN), its steps on one line."""
    statements: list[tuple[str, object]] = []

    def record(_c: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        if statement.startswith("SELECT"):
            statements.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    connection = session.connection()
    return [
        " ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p))
        for s, p in statements
    ]


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


def test_placement_counts_only_live_containers_from_their_partial_index(
    session: Session, node: str
) -> None:
    node_id = nodes.get_node(session, uuid=node).id
    plans = query_plans(session, lambda: nodes.node_loads(session))
    plans += query_plans(session, lambda: nodes.count_live_containers(session, node_id=node_id))
    assert len(plans) == 2 and all("ix_containers_live_node" in plan for plan in plans), plans
