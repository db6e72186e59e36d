"""Reports applied to container records (controlplane/db/observations.py): ordering, the
actions they close, the ports they bind, and batches."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.lifecycle import Action, ActionState, State
from controlplane.core.messages import ContainerReport
from controlplane.db import containers, observations
from controlplane.db.engine import new_uuid
from controlplane.db.models import Container
from tests.unit.helpers import REQUEST, Account, action, apply, state_of

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


def seen(
    container: str, node: str, state: State, observed_ns: int, **extra: object
) -> ContainerReport:
    return ContainerReport.from_dict(
        {"container_uuid": container, "state": state.value, "observed_ns": observed_ns,
         "node_uuid": node, **extra}
    )  # fmt: skip


def test_only_a_report_that_can_change_something_is_news(
    session: Session, container: str, node: str
) -> None:
    """What the reporter judges in a read before it takes the write lock."""
    assert apply(session, container, State.RUNNING, 1_000, node)
    repeat = seen(container, node, State.RUNNING, 1_000)
    assert not observations.any_news(session, [repeat])
    assert not observations.any_news(session, [seen(container, "elsewhere", State.STOPPED, 2_000)])
    assert not observations.any_news(session, [seen(new_uuid(), node, State.STOPPED, 2_000)])
    assert observations.any_news(session, [repeat, seen(container, node, State.STOPPED, 2_000)])
    assert observations.any_news(
        session, [seen(container, node, State.RUNNING, 1_000, paused=True)]
    )
    closing = seen(container, node, State.RUNNING, 1_000, action_uuid=new_uuid())
    assert observations.any_news(session, [closing])


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
