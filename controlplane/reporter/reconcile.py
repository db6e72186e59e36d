"""Reconciliation: a node's whole picture (the agent's relist) against the database's records.

The decisions only: what each record becomes and why. The writes are `controlplane.db`'s
(`observations` for the records, `actions` for the Actions), applied by the reporter in one
transaction. It repairs drift both ways:

- every listed container is applied as an ordinary report (ordered by Docker's times), so an
  event the watcher missed is caught up;
- a Running or Stopped record whose Docker container is no longer listed becomes Terminated with
  a reason (only if it was last observed before the listing began, so a container made while
  the node was listing is not taken for gone);
- a record left Starting, Stopping or Terminating longer than `stuck_after` seconds (its agent
  was killed mid-operation, and the broker redelivers only after its visibility timeout) is
  settled from the picture, if the picture was taken after that long (`stuck_deadline`): if
  the node shows the operation's target, it is applied and the Action succeeds; otherwise the
  Action fails with a reason and the record takes the state the node shows;
- an Action still open that long on a record already stable (an event brought the container
  there, but the agent died before reporting its operation) is closed: Success if the record
  is where the operation leads, Failed otherwise;
- a labelled Docker container that no live record owns, older than the orphan grace period,
  is an orphan (`find_orphans`): its record is Terminated (a late task re-created it), it has
  no record at all, or it was never started while its record is back in Init (a first start
  that failed after Docker's create). The reporter has the node remove it, or only logs it
  (CONTROLPLANE_ORPHANS=report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from controlplane.core import lifecycle
from controlplane.core.lifecycle import Action, ActionState, State
from controlplane.core.messages import Collect, ContainerReport, NodePicture
from controlplane.db import actions, containers, nodes, observations
from controlplane.db.engine import from_ns, utcnow
from controlplane.db.models import ActionRecord, Container

VANISHED_REASON = "its Docker container is gone from the node"
# transitional state -> the state its operation ends in
_TARGETS = {
    State.STARTING: State.RUNNING,
    State.STOPPING: State.STOPPED,
    State.TERMINATING: State.TERMINATED,
}


@dataclass
class PictureOutcome:
    """What a picture changed (for events and the log), and the orphans it showed."""

    applied: list[observations.ReportOutcome] = field(default_factory=list)
    orphans: list[Collect] = field(default_factory=list)


@dataclass
class _View:
    """A picture beside the records of its node: what the decisions are made from."""

    records: dict[str, Container]
    listed: dict[str, ContainerReport]
    stuck: dict[int, ActionRecord]


def _view(session: Session, picture: NodePicture, *, stuck_after: int) -> _View | None:
    node_id = nodes.node_id(session, uuid=picture.node_uuid)
    if node_id is None:
        return None
    return _View(
        records=containers.on_node(session, node_id=node_id),
        listed={report.container_uuid: report for report in picture.reports()},
        stuck=actions.stuck_actions(
            session, node_id=node_id, before=stuck_deadline(picture, stuck_after)
        ),
    )


def survey_node_picture(
    session: Session, picture: NodePicture, *, stuck_after: int, orphan_grace: int
) -> tuple[bool, list[Collect]]:
    """In a read: whether applying the picture could change any record, and the orphans it
    shows. A node's relist, every 15 s from every node, mostly shows what the records say
    already; the reporter then needs no write transaction for it (`apply_node_picture`
    decides the same way, record by record, when there is something to write)."""
    view = _view(session, picture, stuck_after=stuck_after)
    if view is None:
        return False, []
    orphans = find_orphans(view.records, picture, grace=orphan_grace)
    for record in view.records.values():
        if record.id in view.stuck:
            return True, orphans
        if State(record.state) in _TARGETS:
            continue
        report = view.listed.get(record.uuid) or _gone(record, picture)
        if report is not None and observations.is_news(report, record):
            return True, orphans
    return False, orphans


def apply_node_picture(
    session: Session, picture: NodePicture, *, stuck_after: int, orphan_grace: int
) -> PictureOutcome:
    outcome = PictureOutcome()
    view = _view(session, picture, stuck_after=stuck_after)
    if view is None:
        return outcome
    outcome.orphans = find_orphans(view.records, picture, grace=orphan_grace)
    for record in view.records.values():
        report = view.listed.get(record.uuid)
        action = view.stuck.get(record.id)
        if State(record.state) in _TARGETS:
            if action is not None:
                outcome.applied.append(
                    settle(session, record, action, report, picture=picture, limit=stuck_after)
                )
            continue
        if action is not None:
            outcome.applied.append(_close_stale(session, record, action, limit=stuck_after))
        report = report or _gone(record, picture)
        if report is not None:
            outcome.applied.append(observations.observe_container(session, report, record))
    session.commit()
    return outcome


def _gone(record: Container, picture: NodePicture) -> ContainerReport | None:
    """The report that a record the picture does not list is gone: only for a Running or
    Stopped one with a Docker container (one in Init never had a Docker container)."""
    if State(record.state) in (State.RUNNING, State.STOPPED) and record.docker_id is not None:
        return _vanished(record, picture)
    return None


def stuck_deadline(picture: NodePicture, stuck_after: int) -> datetime:
    """Operations begun before this are stuck as far as `picture` can tell. It counts from when
    the picture was taken, not from when it arrived: one taken in an operation's first seconds
    and delivered late (held by the agent while its link to the broker was cut) shows the
    container as it was then, and settling the operation from it would fail a stop that did
    finish. The node's clock is trusted here only as far as the seals bound it (within
    `signing.SEAL_WINDOW_NS` of the reporter's), so a node whose clock runs behind delays its
    own settling by that much at most."""
    taken = min(utcnow(), from_ns(picture.observed_ns))
    return taken - timedelta(seconds=stuck_after)


# What a first start that failed leaves on Docker: a container made but never started, or one
# whose removal Docker could not finish (its Engine went away meanwhile).
_LEFT_BY_A_FAILED_START = frozenset({"created", "dead"})


def find_orphans(
    records: dict[str, Container], picture: NodePicture, *, grace: int
) -> list[Collect]:
    """The node's Docker containers that no live record owns, once older than `grace` seconds
    (so a container made while its record was being written is not taken for one)."""
    orphans = []
    for listed in picture.inventory():
        if picture.observed_ns - listed.created_ns < grace * 1_000_000_000:
            continue
        record = records.get(listed.container_uuid)
        created_only = False
        if record is None:
            reason = "no record owns it"
        elif record.state == State.TERMINATED.value:
            reason = "its record is Terminated"
        elif record.state == State.INIT.value and listed.status in _LEFT_BY_A_FAILED_START:
            reason = f"a first start that failed left it {listed.status}; its record is Init"
            # A created one may yet be adopted by a new start; a dead one never runs again.
            created_only = listed.status == "created"
        else:
            continue
        orphans.append(
            Collect(
                container_uuid=listed.container_uuid,
                docker_id=listed.docker_id,
                reason=reason,
                created_only=created_only,
            )
        )
    return orphans


def _vanished(record: Container, picture: NodePicture) -> ContainerReport:
    return ContainerReport(
        container_uuid=record.uuid,
        state=State.TERMINATED.value,
        observed_ns=picture.observed_ns,
        node_uuid=picture.node_uuid,
        reason=VANISHED_REASON,
    )


def _close_stale(
    session: Session, record: Container, action: ActionRecord, *, limit: int
) -> observations.ReportOutcome:
    """Close an Action left open on a record that is stable already."""
    target = _TARGETS[lifecycle.target_state(Action(action.operation))]
    error = None
    if record.state != target.value:
        error = f"{unfinished(action, limit)}; the container is {record.state}"
    return observations.close_stale_action(session, record, action_uuid=action.uuid, error=error)


def unfinished(action: ActionRecord, limit: int) -> str:
    """Why a stuck operation ended short of its target. Still Pending, no node ever claimed it:
    its task was lost on the way (the API died between its commit and queueing the task, or the
    broker lost it), and a copy arriving later is refused. In progress, the node claimed it and
    did not finish (its agent died mid-operation, or Docker hung)."""
    if action.state == ActionState.PENDING.value:
        return (
            f"the {action.operation} was never delivered to the node: "
            f"no agent claimed it within {limit} s"
        )
    return f"the node did not finish the {action.operation} within {limit} s"


def settled_state(record: Container, action: ActionRecord, report: ContainerReport | None) -> State:
    """Where a stuck record goes: what its node shows; with no Docker container, back to Init
    if it never had one, Terminated otherwise."""
    if report is not None:
        return report.observed_state
    if record.docker_id is None and action.rollback_state == State.INIT.value:
        return State.INIT
    return State.TERMINATED


def settle(
    session: Session,
    record: Container,
    action: ActionRecord,
    report: ContainerReport | None,
    *,
    picture: NodePicture,
    limit: int,
) -> observations.ReportOutcome:
    """End a stuck operation from the picture: decide what the record becomes and whether the
    Action succeeded; `observations.settle_container` writes it, unless a real report won."""
    current = State(record.state)
    observed = settled_state(record, action, report)
    reached = observed is _TARGETS[current]
    error = None
    if not reached:
        error = f"{unfinished(action, limit)}; its container is {observed.value} there"
    base = report or _vanished(record, picture)
    settled = ContainerReport.from_dict(
        {
            **base.to_dict(),
            "state": observed.value,
            "observed_ns": max(base.observed_ns, (record.observed_ns or 0) + 1),
            "reason": None if reached or observed is not State.TERMINATED else VANISHED_REASON,
        }
    )
    return observations.settle_container(
        session, record, settled, action_uuid=action.uuid, error=error
    )
