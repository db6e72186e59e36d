"""A node's relisted picture against the records: vanished containers, stuck operations,
orphans, and the ordering that keeps a relist from moving a record backwards."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from controlplane.core.lifecycle import Action, ActionState, State
from controlplane.core.messages import (
    ClaimRequest,
    Collect,
    ContainerReport,
    DockerContainer,
    NodePicture,
)
from controlplane.db import actions, containers
from controlplane.db.engine import utcnow
from controlplane.db.models import ActionRecord, Container
from controlplane.reporter import reconcile
from tests.unit.helpers import REQUEST, Account, action, add_container, apply, state_of

DOCKER_ID = "c" * 64
GRACE = 60


def picture(node: str, observed_ns: int, *reports: ContainerReport) -> NodePicture:
    return NodePicture(
        node_uuid=node,
        observed_ns=observed_ns,
        containers=[report.to_dict() for report in reports],
    )


def seen(uuid: str, node: str, state: State, observed_ns: int, **extra: object) -> ContainerReport:
    return ContainerReport.from_dict(
        {
            "container_uuid": uuid,
            "state": state.value,
            "observed_ns": observed_ns,
            "node_uuid": node,
            "docker_id": DOCKER_ID,
            **extra,
        }
    )


def running(session: Session, account: Account, node: str, at: int = 100) -> str:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    assert apply(session, uuid, State.RUNNING, at, node, docker_id=DOCKER_ID)
    return uuid


def age_actions(session: Session, seconds: int) -> None:
    session.execute(update(ActionRecord).values(start_date=utcnow() - timedelta(seconds=seconds)))
    session.commit()


def test_a_listed_change_the_events_missed_is_applied(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node)
    outcome = reconcile.apply_node_picture(
        session,
        picture(node, 300, seen(uuid, node, State.STOPPED, 200, exit_code=2)),
        stuck_after=60,
        orphan_grace=GRACE,
    )
    assert state_of(session, uuid) is State.STOPPED
    assert [applied.changed for applied in outcome.applied] == [True]


def test_an_older_listing_does_not_move_a_record_backwards(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node, at=500)
    reconcile.apply_node_picture(
        session,
        picture(node, 400, seen(uuid, node, State.STOPPED, 300)),
        stuck_after=60,
        orphan_grace=GRACE,
    )
    assert state_of(session, uuid) is State.RUNNING


def test_a_record_whose_container_vanished_is_terminated_with_a_reason(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node, at=100)
    reconcile.apply_node_picture(session, picture(node, 200), stuck_after=60, orphan_grace=GRACE)
    assert state_of(session, uuid) is State.TERMINATED
    record = session.get(
        Container, containers.get_container(session, owner_id=account.user_id, uuid=uuid).id
    )
    assert record is not None and record.state_reason == reconcile.VANISHED_REASON


def test_a_record_observed_after_the_listing_began_is_not_taken_for_gone(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node, at=300)
    reconcile.apply_node_picture(session, picture(node, 200), stuck_after=60, orphan_grace=GRACE)
    assert state_of(session, uuid) is State.RUNNING


def test_a_record_that_never_had_a_container_is_left_in_init(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    reconcile.apply_node_picture(session, picture(node, 200), stuck_after=60, orphan_grace=GRACE)
    assert state_of(session, uuid) is State.INIT


def test_a_recent_operation_is_left_to_finish(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node)
    containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.STOP, request=REQUEST
    )
    reconcile.apply_node_picture(
        session,
        picture(node, time.time_ns(), seen(uuid, node, State.RUNNING, 100)),
        stuck_after=60,
        orphan_grace=GRACE,
    )
    assert state_of(session, uuid) is State.STOPPING


def test_a_stuck_stop_whose_target_was_reached_succeeds(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node)
    _, record, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.STOP, request=REQUEST
    )
    age_actions(session, 120)
    reconcile.apply_node_picture(
        session,
        picture(node, time.time_ns(), seen(uuid, node, State.STOPPED, 250, exit_code=0)),
        stuck_after=60,
        orphan_grace=GRACE,
    )
    assert state_of(session, uuid) is State.STOPPED
    assert action(session, record.uuid).state == ActionState.SUCCESS.value


def stop_left_stuck_while_it_runs(
    session: Session, account: Account, node: str, *, claimed: bool
) -> tuple[str, ActionRecord]:
    """A stop open past the stuck timeout, relisted with its container still running; claimed
    by the node first or never (its task lost on the way). Returns the uuid and the Action."""
    uuid = running(session, account, node)
    _, record, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.STOP, request=REQUEST
    )
    if claimed:
        claim(session, record.uuid, uuid, node)
    age_actions(session, 120)
    reconcile.apply_node_picture(
        session,
        picture(node, time.time_ns(), seen(uuid, node, State.RUNNING, 100)),
        stuck_after=60,
        orphan_grace=GRACE,
    )
    return uuid, action(session, record.uuid)


def test_a_stuck_stop_whose_container_still_runs_fails_and_shows_running(
    session: Session, account: Account, node: str
) -> None:
    uuid, failed = stop_left_stuck_while_it_runs(session, account, node, claimed=True)
    assert state_of(session, uuid) is State.RUNNING
    assert failed.state == ActionState.FAILED.value
    assert "did not finish the stop within 60 s" in (failed.reason or "")


def test_a_picture_taken_early_in_an_operation_does_not_settle_it_however_late_it_comes(
    session: Session, account: Account, node: str
) -> None:
    """A relist taken while a stop was under way, held by the agent while its link to the
    broker was cut and delivered long after: it says nothing of how the stop ended. A picture
    taken past the stuck timeout does."""
    uuid = running(session, account, node)
    _, record, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.STOP, request=REQUEST
    )
    claim(session, record.uuid, uuid, node)
    taken_early = time.time_ns()
    age_actions(session, 120)  # as if the picture arrived two minutes after it was taken
    early = picture(node, taken_early - 115 * 10**9, seen(uuid, node, State.RUNNING, 100))
    reconcile.apply_node_picture(session, early, stuck_after=60, orphan_grace=GRACE)
    assert state_of(session, uuid) is State.STOPPING
    assert action(session, record.uuid).state == ActionState.IN_PROGRESS.value

    later = picture(node, time.time_ns(), seen(uuid, node, State.STOPPED, 300, exit_code=0))
    reconcile.apply_node_picture(session, later, stuck_after=60, orphan_grace=GRACE)
    assert state_of(session, uuid) is State.STOPPED
    assert action(session, record.uuid).state == ActionState.SUCCESS.value


def test_a_stuck_operation_no_node_ever_claimed_says_it_was_never_delivered(
    session: Session, account: Account, node: str
) -> None:
    """What an API killed between its commit and queueing the task leaves: a Pending Action."""
    uuid, failed = stop_left_stuck_while_it_runs(session, account, node, claimed=False)
    assert state_of(session, uuid) is State.RUNNING
    assert failed.state == ActionState.FAILED.value
    assert failed.reason == (
        "the stop was never delivered to the node: no agent claimed it within 60 s; "
        "its container is Running there"
    )


def claim(session: Session, action_uuid: str, container_uuid: str, node: str) -> None:
    request = ClaimRequest(action_uuid=action_uuid, container_uuid=container_uuid, node_uuid=node)
    assert actions.claim_action(session, request)[2].granted


def test_a_stuck_first_start_with_nothing_on_the_node_returns_to_init(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    _, record, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.START, request=REQUEST
    )
    age_actions(session, 120)
    reconcile.apply_node_picture(
        session, picture(node, time.time_ns()), stuck_after=60, orphan_grace=GRACE
    )
    assert state_of(session, uuid) is State.INIT
    assert action(session, record.uuid).state == ActionState.FAILED.value


def test_a_stuck_terminate_whose_container_is_gone_succeeds(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node)
    _, record, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.TERMINATE, request=REQUEST
    )
    age_actions(session, 120)
    reconcile.apply_node_picture(
        session, picture(node, time.time_ns()), stuck_after=60, orphan_grace=GRACE
    )
    assert state_of(session, uuid) is State.TERMINATED
    assert action(session, record.uuid).state == ActionState.SUCCESS.value


def test_an_action_left_open_on_a_record_an_event_already_settled_is_closed(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node)
    _, record, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.STOP, request=REQUEST
    )
    # The watcher saw the container stop; the agent died before reporting its operation.
    assert apply(session, uuid, State.STOPPED, 200, node, exit_code=0)
    reconcile.apply_node_picture(
        session,
        picture(node, time.time_ns(), seen(uuid, node, State.STOPPED, 200)),
        stuck_after=60,
        orphan_grace=GRACE,
    )
    assert action(session, record.uuid).state == ActionState.PENDING.value
    age_actions(session, 120)
    reconcile.apply_node_picture(
        session,
        picture(node, time.time_ns(), seen(uuid, node, State.STOPPED, 200)),
        stuck_after=60,
        orphan_grace=GRACE,
    )
    assert action(session, record.uuid).state == ActionState.SUCCESS.value


def test_the_survey_of_a_picture_says_whether_applying_it_would_change_anything(
    session: Session, account: Account, node: str
) -> None:
    """The read the reporter makes before it takes the write lock for a relist."""
    uuid = running(session, account, node)

    def news(shown: NodePicture) -> bool:
        return reconcile.survey_node_picture(session, shown, stuck_after=60, orphan_grace=GRACE)[0]

    steady = picture(node, time.time_ns(), seen(uuid, node, State.RUNNING, 100))
    assert not news(steady)
    assert not any(o.changed for o in reconcile.apply_node_picture(
        session, steady, stuck_after=60, orphan_grace=GRACE).applied)  # fmt: skip
    assert news(picture(node, time.time_ns(), seen(uuid, node, State.STOPPED, 200, exit_code=0)))
    assert news(picture(node, time.time_ns()))  # its Docker container is gone
    _, record, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.STOP, request=REQUEST
    )
    assert not news(steady)  # a stop under way is left to finish
    age_actions(session, 120)
    assert news(steady)  # a stuck one is settled


def listed(uuid: str, *, created_ns: int, status: str = "running") -> dict[str, object]:
    return DockerContainer(
        container_uuid=uuid, docker_id=DOCKER_ID, created_ns=created_ns, status=status
    ).to_dict()


def orphans_in(session: Session, node: str, *docker: dict[str, object]) -> list[Collect]:
    """The orphans a picture taken GRACE s and a moment after those containers were made shows."""
    observed = (GRACE + 1) * 1_000_000_000
    shown = NodePicture(node_uuid=node, observed_ns=observed, docker=list(docker))
    _, surveyed = reconcile.survey_node_picture(session, shown, stuck_after=60, orphan_grace=GRACE)
    outcome = reconcile.apply_node_picture(session, shown, stuck_after=60, orphan_grace=GRACE)
    assert surveyed == outcome.orphans  # the reporter collects them without a write, too
    return outcome.orphans


def test_a_container_no_record_owns_is_an_orphan(
    session: Session, account: Account, node: str
) -> None:
    stranger = "0b6e3f2a-1c4d-4e5f-8a9b-000000000000"
    assert orphans_in(session, node, listed(stranger, created_ns=0)) == [
        Collect(container_uuid=stranger, docker_id=DOCKER_ID, reason="no record owns it")
    ]


def test_a_container_of_a_terminated_record_is_an_orphan(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node)
    assert apply(session, uuid, State.TERMINATED, 200, node)
    [orphan] = orphans_in(session, node, listed(uuid, created_ns=0))
    assert (orphan.container_uuid, orphan.reason) == (uuid, "its record is Terminated")
    assert not orphan.created_only


def test_a_never_started_container_of_a_record_back_in_init_is_an_orphan_while_unstarted(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    [orphan] = orphans_in(session, node, listed(uuid, created_ns=0, status="created"))
    assert orphan.created_only
    assert "first start that failed" in orphan.reason


def test_a_dead_container_of_a_record_back_in_init_is_an_orphan_whatever_it_becomes(
    session: Session, account: Account, node: str
) -> None:
    """Docker could not finish removing what a failed first start left (its Engine went away):
    a dead container never runs again, so it is removed without the never-started check."""
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    [orphan] = orphans_in(session, node, listed(uuid, created_ns=0, status="dead"))
    assert not orphan.created_only
    assert orphan.reason == "a first start that failed left it dead; its record is Init"


def test_a_live_records_containers_are_no_orphans(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node)
    idle = add_container(session, owner_id=account.user_id, node_uuid=node, name="idle")
    assert (
        orphans_in(
            session,
            node,
            listed(uuid, created_ns=0),
            listed(uuid, created_ns=0, status="exited"),  # set aside mid-redeploy
            listed(idle, created_ns=0, status="exited"),  # an Init record's container that ran
        )
        == []
    )


def test_a_container_younger_than_the_grace_period_is_no_orphan_yet(
    session: Session, account: Account, node: str
) -> None:
    stranger = "0b6e3f2a-1c4d-4e5f-8a9b-000000000000"
    just_made = 2 * 1_000_000_000
    assert orphans_in(session, node, listed(stranger, created_ns=just_made)) == []


def test_a_reason_is_kept_for_a_change_nobody_asked_for_only(
    session: Session, account: Account, node: str
) -> None:
    uuid = running(session, account, node)
    assert apply(
        session, uuid, State.STOPPED, 200, node, exit_code=137, reason="killed: out of memory"
    )
    record = containers.get_container(session, owner_id=account.user_id, uuid=uuid)
    session.refresh(record)
    assert record.state_reason == "killed: out of memory"
    containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.TERMINATE, request=REQUEST
    )
    assert apply(
        session, uuid, State.TERMINATED, 300, node, reason="removed outside the control plane"
    )
    session.refresh(record)
    assert record.state_reason is None
