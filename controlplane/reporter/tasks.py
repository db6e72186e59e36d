"""The reporter: a Celery worker on the "controlplane" queue, sole writer of observed state.

Node agents never touch the database; everything they observe arrives here as a report and is
applied through `controlplane.db.observations`, which drops stale and duplicate reports by their
observation time. Whatever a report changed is then published as events (`controlplane.events`),
after the commit, so a client never hears of a change that was rolled back.
Beside the tasks, a `LeaseSweeper` thread declares nodes that stopped heartbeating Unreachable.
Tasks retry only on transient database errors (a locked SQLite file, a lost PostgreSQL
connection); a malformed report is logged and dropped rather than retried forever.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from celery import Celery
from sqlalchemy.exc import OperationalError

from controlplane import events
from controlplane.celery_app import make_celery
from controlplane.core import lifecycle
from controlplane.core.errors import BrokerUnavailableError
from controlplane.core.messages import (
    TASK_CLAIM_ACTION,
    TASK_REPORT_CONTAINER,
    TASK_REPORT_CONTAINERS,
    TASK_REPORT_NODE,
    TASK_REPORT_PICTURE,
    ClaimRequest,
    Collect,
    ContainerReport,
    NodePicture,
    NodeReport,
)
from controlplane.db import actions, nodes, observations
from controlplane.db.engine import Database
from controlplane.dispatch import Dispatcher
from controlplane.reporter import reconcile
from controlplane.reporter.sweeper import LeaseSweeper
from controlplane.settings import Settings

log = logging.getLogger(__name__)

_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 0.2,
    "retry_backoff_max": 5,
    "max_retries": 20,
}


def make_reporter(settings: Settings) -> tuple[Celery, LeaseSweeper]:
    """The reporter's Celery app, with its tasks bound to a database built from `settings`, and
    the lease sweeper that runs beside it on the same database and broker."""
    app = make_celery(settings)
    database = Database(settings.database_url)
    publisher = events.EventPublisher(app)
    dispatcher = Dispatcher(app, node_timeout=settings.node_timeout)
    sweeper = LeaseSweeper(database, publisher, grace=settings.node_grace)

    @app.task(name=TASK_REPORT_CONTAINER, **_RETRY)
    def report_container(report: dict[str, Any]) -> None:
        message = on_reporters_clock(ContainerReport.from_dict(report))
        with database.session() as session:
            outcome = observations.apply_container_report(session, message)
            publisher.publish(events.report_events(outcome))
        log.info(
            "container %s observed %s at %d on node %s: %s%s",
            message.container_uuid,
            message.state,
            message.observed_ns,
            message.node_uuid,
            "applied" if outcome.changed else "ignored (stale, duplicate or unknown)",
            f"; action {message.action_uuid} failed: {message.error}" if message.error else "",
        )

    @app.task(name=TASK_REPORT_CONTAINERS, **_RETRY)
    def report_containers(reports: list[dict[str, Any]]) -> None:
        """A batch of reports (a burst of events), applied in one transaction."""
        messages = [on_reporters_clock(ContainerReport.from_dict(report)) for report in reports]
        with database.session() as session:
            outcomes = observations.apply_container_reports(session, messages)
            publisher.publish(
                event for outcome in outcomes for event in events.report_events(outcome)
            )
        log.info(
            "%d container reports: %d applied",
            len(messages),
            sum(outcome.changed for outcome in outcomes),
        )

    @app.task(name=TASK_REPORT_PICTURE, **_RETRY)
    def report_picture(picture: dict[str, Any]) -> None:
        """A node's relist: every container it holds, applied in one transaction."""
        message = picture_on_reporters_clock(NodePicture.from_dict(picture))
        with database.session() as session:
            outcome = reconcile.apply_node_picture(
                session,
                message,
                stuck_after=settings.stuck_after,
                orphan_grace=settings.orphan_grace,
            )
            publisher.publish(
                event for applied in outcome.applied for event in events.report_events(applied)
            )
            changed = sum(applied.changed for applied in outcome.applied)
        log.info(
            "node %s relisted %d containers: %d records changed",
            message.node_uuid,
            len(message.containers),
            changed,
        )
        for orphan in outcome.orphans:
            collect_orphan(
                dispatcher, message.node_uuid, orphan, remove=settings.orphans == "remove"
            )

    @app.task(name=TASK_CLAIM_ACTION, ignore_result=False, **_RETRY)
    def claim_action(claim: dict[str, Any]) -> dict[str, Any]:
        """A node agent asks before it runs an operation; it runs it only if granted."""
        request = ClaimRequest.from_dict(claim)
        with database.session() as session:
            record, moved, verdict = actions.claim_action(session, request)
            if record is not None and moved:
                publisher.publish([events.action_event(record, events.UPDATE)])
        if verdict.granted:
            log.info("action %s claimed by node %s", request.action_uuid, request.node_uuid)
        else:
            log.warning(
                "claim of action %s by node %s refused: %s",
                request.action_uuid,
                request.node_uuid,
                verdict.reason,
            )
        return verdict.to_dict()

    @app.task(name=TASK_REPORT_NODE, **_RETRY)
    def report_node(report: dict[str, Any]) -> None:
        message = NodeReport.from_dict(report)
        with database.session() as session:
            node, previous = nodes.apply_node_report(session, message)
            if previous is None:
                publisher.publish([events.node_event(node, events.CREATE)])
            elif previous != node.state:
                publisher.publish([events.node_event(node, events.UPDATE)])
        log_node_report(message, previous=previous, state=node.state)

    return app, sweeper


def on_reporters_clock(report: ContainerReport) -> ContainerReport:
    """The report with its observation time no further ahead of this reporter's clock than the
    allowed skew (`lifecycle.clamp_observed`); a clamped one is logged, since it means a node's
    clock is wrong, or a report is forged."""
    observed_ns = lifecycle.clamp_observed(report.observed_ns, time.time_ns())
    if observed_ns == report.observed_ns:
        return report
    log.warning(
        "report of container %s from node %s stamped %.1f s in the future; taken as now",
        report.container_uuid,
        report.node_uuid,
        (report.observed_ns - observed_ns) / 1e9,
    )
    return dataclasses.replace(report, observed_ns=observed_ns)


def picture_on_reporters_clock(picture: NodePicture) -> NodePicture:
    """A relist with its own time and every report in it clamped as `on_reporters_clock` does."""
    return dataclasses.replace(
        picture,
        observed_ns=lifecycle.clamp_observed(picture.observed_ns, time.time_ns()),
        containers=[on_reporters_clock(report).to_dict() for report in picture.reports()],
    )


def collect_orphan(
    dispatcher: Dispatcher, node_uuid: str, orphan: Collect, *, remove: bool
) -> None:
    """Have the node remove an orphan, or (CONTROLPLANE_ORPHANS=report) only say it is there.
    Either way the log names it; a collect that cannot be sent is tried at the next relist."""
    log.warning(
        "orphan on node %s, %s: Docker container %s of %s (%s)",
        node_uuid,
        "removing it" if remove else "left alone",
        orphan.docker_id[:12],
        orphan.container_uuid,
        orphan.reason,
    )
    if not remove:
        return
    try:
        dispatcher.send_collect(node_uuid, orphan)
    except BrokerUnavailableError as exc:
        log.warning("could not ask node %s to remove it: %s", node_uuid, exc)


def log_node_report(report: NodeReport, *, previous: str | None, state: str) -> None:
    """Log what a node report changed. A registration and a change of state are worth an
    operator's attention; a plain heartbeat, every few seconds from every node, is not (DEBUG)."""
    if previous is None:
        log.info(
            "node %s (%s) registered, Docker %s",
            report.node_uuid,
            report.name,
            report.docker_version,
        )
    elif previous != state:
        log.info(
            "node %s (%s) is %s again (was %s)", report.node_uuid, report.name, state, previous
        )
    else:
        log.debug("heartbeat from node %s (%s)", report.node_uuid, report.name)
