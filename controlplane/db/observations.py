"""Observed state: every UPDATE that writes what a node saw onto a container record.

Only the reporter calls these (its report tasks and the reconciliation of a relist). Reports are
idempotent and ordered: each carries the time Docker observed the change, and a report not newer
than the last applied observation never moves a container.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from controlplane.core import lifecycle
from controlplane.core.lifecycle import State
from controlplane.core.messages import ContainerReport
from controlplane.db import actions
from controlplane.db.containers import keep_in_step
from controlplane.db.engine import from_ns
from controlplane.db.models import ActionRecord, Container


@dataclass(frozen=True)
class ReportOutcome:
    """What applying a report changed: the container's state, and the Action it closed."""

    container: Container | None = None
    changed: bool = False
    finished_action: ActionRecord | None = None


def apply_container_report(session: Session, report: ContainerReport) -> ReportOutcome:
    """Apply what a node observed, commit, and say what changed (for the events it causes)."""
    return apply_container_reports(session, [report])[0]


def apply_container_reports(
    session: Session, reports: list[ContainerReport]
) -> list[ReportOutcome]:
    """Apply a batch of observations in one transaction: a burst of hundreds of changes costs
    one query for the records and one commit instead of hundreds. Each report is still judged
    on its own observation time, in order, so two reports on one container in a batch apply as
    they would one after the other."""
    known = _records(session, reports)
    outcomes = [
        observe_container(session, report, known.get(report.container_uuid)) for report in reports
    ]
    session.commit()
    return outcomes


def any_news(session: Session, reports: list[ContainerReport]) -> bool:
    """Whether applying `reports` could change anything, judged in a read: most reports a node
    sends unasked repeat what an operation's own report said a moment before (Docker's event
    of a stop the agent made and reported), and those need no write transaction. A report that
    closes an Action always counts: whether that Action is still open is the write's to see."""
    known = _records(session, reports)
    return any(is_news(report, known.get(report.container_uuid)) for report in reports)


def _records(session: Session, reports: list[ContainerReport]) -> dict[str, Container]:
    uuids = {report.container_uuid for report in reports}
    return {
        container.uuid: container
        for container in session.scalars(select(Container).where(Container.uuid.in_(uuids)))
    }


def is_news(report: ContainerReport, container: Container | None) -> bool:
    """Whether `observe_container` could change anything with the report."""
    if container is None or container.node.uuid != report.node_uuid:
        return False
    return (
        report.action_uuid is not None
        or lifecycle.accepts_report(
            current=State(container.state),
            last_observed_ns=container.observed_ns,
            reported=report.observed_state,
            observed_ns=report.observed_ns,
        )
        or _pause_differs(container, report)
    )


def observe_container(
    session: Session, report: ContainerReport, container: Container | None
) -> ReportOutcome:
    """Apply what a node observed to `container` (its record, None if unknown) without
    committing: a batch or a relist applies many in one transaction.

    Stale and duplicate reports (not newer than the last applied observation) leave the
    container as it is, but still close their Action if it is open, so a lost race between two
    deliveries never leaves an Action "In progress" forever.
    """
    if container is None or container.node.uuid != report.node_uuid:
        # Unknown, or not on the node that reports it: a node observes only its own containers.
        return ReportOutcome()
    changed = False
    if lifecycle.accepts_report(
        current=State(container.state),
        last_observed_ns=container.observed_ns,
        reported=report.observed_state,
        observed_ns=report.observed_ns,
    ):
        values = _observation_values(container, report)
        result = session.execute(
            update(Container)
            .where(
                Container.id == container.id,
                Container.state == container.state,
                or_(Container.observed_ns.is_(None), Container.observed_ns < report.observed_ns),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        changed = result.rowcount == 1  # type: ignore[attr-defined]
        if changed:
            keep_in_step(container, values)
    if not changed and _pause_differs(container, report):
        changed = _sync_paused(session, container, paused=report.paused)
    finished = None
    if report.action_uuid is not None:
        finished = actions.close_action(
            session, action_uuid=report.action_uuid, error=report.error, container_id=container.id
        )
    return ReportOutcome(container=container, changed=changed, finished_action=finished)


def settle_container(
    session: Session,
    container: Container,
    settled: ContainerReport,
    *,
    action_uuid: str,
    error: str | None,
) -> ReportOutcome:
    """Write a stuck operation's end, as the reconciliation decided it from a node's picture:
    `settled` is what the record becomes, whatever its observation time. One conditional UPDATE
    on the record's transitional state, so a real report that arrives meanwhile wins; only if
    this one applies is the Action closed, with `error` when the operation did not get there."""
    values = observation_values(
        settled, first_deploy=container.deployed_datetime is None, out_of_band=True
    )
    result = session.execute(
        update(Container)
        .where(Container.id == container.id, Container.state == container.state)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = bool(result.rowcount)  # type: ignore[attr-defined]
    finished = None
    if changed:
        keep_in_step(container, values)
        finished = actions.close_action(session, action_uuid=action_uuid, error=error)
    return ReportOutcome(container=container, changed=changed, finished_action=finished)


def close_stale_action(
    session: Session, container: Container, *, action_uuid: str, error: str | None
) -> ReportOutcome:
    """Close an Action left open on a record that is already stable (an event brought it there,
    but its agent died before reporting the operation); the record itself stays as it is."""
    finished = actions.close_action(session, action_uuid=action_uuid, error=error)
    return ReportOutcome(container=container, finished_action=finished)


def _pause_differs(container: Container, report: ContainerReport) -> bool:
    return (
        report.observed_state is State.RUNNING
        and container.state == State.RUNNING.value
        and container.paused != report.paused
    )


def _sync_paused(session: Session, container: Container, *, paused: bool) -> bool:
    """Set whether a Running record's processes are frozen, whatever the report's time.

    Docker stamps no time on a pause or an unpause, so the ordering rule cannot judge them:
    the flag follows the latest report about a Running container instead (level-triggered). A
    listing taken just before a pause may show the container unpaused for one relist interval.
    """
    result = session.execute(
        update(Container)
        .where(Container.id == container.id, Container.state == State.RUNNING.value)
        .values(paused=paused)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    keep_in_step(container, {"paused": paused})
    return True


def _observation_values(container: Container, report: ContainerReport) -> dict[str, Any]:
    """The columns an observation sets. A reason is kept only for a change that left a stable
    state: from a transitional state the change is the outcome of the control plane's own
    operation (its terminate's removal, its stop), which needs no explaining."""
    return observation_values(
        report,
        first_deploy=container.deployed_datetime is None,
        out_of_band=State(container.state) in lifecycle.STABLE_STATES,
    )


def observation_values(
    report: ContainerReport, *, first_deploy: bool, out_of_band: bool
) -> dict[str, Any]:
    """The columns an observation sets on a container record (see `_observation_values`)."""
    reason = report.reason if out_of_band else None
    when = from_ns(report.observed_ns)
    values: dict[str, Any] = {"state": report.state, "observed_ns": report.observed_ns}
    if report.docker_id is not None:
        values["docker_id"] = report.docker_id
    if report.ports is not None:
        values["bound_ports"] = report.ports
    state = report.observed_state
    values["paused"] = report.paused and state is State.RUNNING
    if state is State.RUNNING:
        values["started_datetime"] = when
        values["exit_code"] = None
        values["state_reason"] = None
        if first_deploy:
            values["deployed_datetime"] = when
    elif state is State.STOPPED and report.error is None:
        values["stopped_datetime"] = when
        values["exit_code"] = report.exit_code
        values["state_reason"] = reason
    elif state is State.TERMINATED:
        values["destroyed_datetime"] = when
        values["state_reason"] = reason
    return values
