"""The reporter: a Celery worker on the "controlplane" queue, sole writer of observed state.

Node agents never touch the database; everything they observe arrives here as a report and is
applied through `controlplane.db.observations`, which drops stale and duplicate reports by their
observation time. Whatever a report changed is then published as events (`controlplane.events`),
after the commit, so a client never hears of a change that was rolled back.
Every message must come sealed by an enrolled node (`controlplane.reporter.gate`), and speaks only
for that node: a report about another node's containers, or a heartbeat, claim or relist that
names another node, is refused and logged (docs/architecture.md §5.9).
Beside the tasks, a `LeaseSweeper` thread declares nodes that stopped heartbeating Unreachable.
Tasks retry only on transient database errors (a locked SQLite file, a lost PostgreSQL
connection); a malformed report is logged and dropped rather than retried forever.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import redis
from celery import Celery, Task
from sqlalchemy.exc import OperationalError

from controlplane import events
from controlplane.celery_app import make_celery
from controlplane.core import lifecycle, signing
from controlplane.core.errors import BrokerUnavailableError
from controlplane.core.logcontext import request_context
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
from controlplane.core.periodic import Background
from controlplane.core.signing import SealError
from controlplane.db import actions, observations
from controlplane.db.engine import Database
from controlplane.db.observations import ReportOutcome
from controlplane.dispatch import Dispatcher
from controlplane.keyring import Keyring
from controlplane.operations import Operations
from controlplane.ratelimit import CreateRate
from controlplane.reporter import heartbeats, metrics, reconcile
from controlplane.reporter.gate import Gate, Nonces, from_sender
from controlplane.reporter.services import ServiceSweeper
from controlplane.reporter.sweeper import LeaseSweeper
from controlplane.servicecontrol import ServiceControl
from controlplane.settings import Settings

log = logging.getLogger(__name__)

# Transient: a locked SQLite file, a lost PostgreSQL connection, Redis (the nonces) away.
_RETRY = {
    "autoretry_for": (OperationalError, redis.RedisError),
    "retry_backoff": 0.2,
    "retry_backoff_max": 5,
    "max_retries": 20,
}


def make_reporter(settings: Settings) -> tuple[Celery, list[Background]]:
    """The reporter's Celery app, with its tasks bound to a database built from `settings`, and
    the threads that run beside it on the same database and broker: the heartbeat intake, the
    lease sweeper and the service sweeper."""
    app = make_celery(settings)
    database = Database(settings.database_url)
    secret_key = settings.require_secret_key()
    keyring = Keyring(database, secret_key)
    gate = Gate(
        keyring.key,
        Nonces(
            redis.Redis.from_url(settings.broker_url),
            ttl_seconds=2 * signing.SEAL_WINDOW_NS // 1_000_000_000,
        ),
    )
    publisher = events.EventPublisher(app, signing.events_key(secret_key))
    dispatcher = Dispatcher(app, keyring, node_timeout=settings.node_timeout)
    control = ServiceControl(
        database,
        Operations(
            database,
            dispatcher,
            publisher,
            settings,
            CreateRate(redis.Redis.from_url(settings.broker_url), settings.creates_per_minute),
        ),
    )
    reporter = Reporter(settings, database, keyring, publisher, dispatcher, control)
    for name, apply, options in reporter.tasks():
        node_task(app, gate, name, apply, **options)
    return app, [
        heartbeats.HeartbeatIntake(
            app.connection_for_read,
            gate,
            keyring.refresh,
            partial(heartbeats.apply_heartbeats, database, publisher),
        ),
        LeaseSweeper(
            database,
            publisher,
            grace=settings.node_grace,
            backlog=partial(heartbeats.waiting, redis.Redis.from_url(settings.broker_url)),
        ),
        ServiceSweeper(control),
    ]


def node_task(
    app: Celery, gate: Gate, name: str, apply: Callable[..., Any], **options: Any
) -> None:
    """Register `apply` as the task `name`, whose messages must come sealed by an enrolled node
    (`Gate.admit`); `apply` gets the sender's uuid and the seal's nonce before the body. A
    refused message is logged and acknowledged, never applied or retried."""

    @app.task(name=name, bind=True, **_RETRY, **options)
    def task(self: Task, **message: Any) -> Any:
        try:
            body, sealed = gate.admit(name, message, task_id=self.request.id)
        except SealError as exc:
            log.warning("refused a %s message: %s", name, exc.reason)
            metrics.MESSAGES.labels(name, "refused").inc()
            return None
        started = time.perf_counter()
        try:
            result = apply(sealed.node_uuid, sealed.nonce, **body)
        except Exception:
            metrics.MESSAGES.labels(name, "failed").inc()
            raise
        gate.spend(sealed)
        metrics.APPLY.labels(name).observe(time.perf_counter() - started)
        metrics.LAG.labels(name).observe(max(time.time_ns() - sealed.sealed_ns, 0) / 1e9)
        metrics.MESSAGES.labels(name, "applied").inc()
        return result


class Reporter:
    """What the reporter does with each kind of message, once its seal let it in: `sender` is
    the node whose key sealed it, `nonce` the seal's."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        keyring: Keyring,
        publisher: events.EventPublisher,
        dispatcher: Dispatcher,
        control: ServiceControl,
    ) -> None:
        self.settings = settings
        self.database = database
        self.keyring = keyring
        self.publisher = publisher
        self.dispatcher = dispatcher
        self.control = control

    def tasks(self) -> list[tuple[str, Callable[..., Any], dict[str, Any]]]:
        """Each task's name, what applies it, and its Celery options."""
        return [
            (TASK_REPORT_CONTAINER, self.report_container, {}),
            (TASK_REPORT_CONTAINERS, self.report_containers, {}),
            (TASK_REPORT_PICTURE, self.report_picture, {}),
            (TASK_CLAIM_ACTION, self.claim_action, {"ignore_result": False}),
            (TASK_REPORT_NODE, self.report_node, {}),
        ]

    def report_container(self, sender: str, nonce: str, report: dict[str, Any]) -> None:
        message = on_reporters_clock(ContainerReport.from_dict(report))
        if not from_sender(TASK_REPORT_CONTAINER, sender, message.node_uuid):
            return
        (outcome,) = self.apply_reports([message])
        log.info(
            "container %s observed %s at %d on node %s: %s%s",
            message.container_uuid,
            message.state,
            message.observed_ns,
            message.node_uuid,
            "applied"
            if outcome.changed
            else "ignored (stale, duplicate, unknown or not its node's)",
            f"; action {message.action_uuid} failed: {message.error}" if message.error else "",
        )

    def report_containers(self, sender: str, nonce: str, reports: list[dict[str, Any]]) -> None:
        """A batch of reports (a burst of events), applied in one transaction."""
        messages = [on_reporters_clock(ContainerReport.from_dict(report)) for report in reports]
        mine = [m for m in messages if from_sender(TASK_REPORT_CONTAINERS, sender, m.node_uuid)]
        outcomes = self.apply_reports(mine)
        log.info(
            "%d container reports: %d applied",
            len(messages),
            sum(outcome.changed for outcome in outcomes),
        )

    def apply_reports(self, reports: list[ContainerReport]) -> list[ReportOutcome]:
        """Apply the reports in one transaction, announce what they changed and converge the
        services concerned; reports that can change nothing are found so in a read, and cost
        no write (`observations.any_news`)."""
        with self.database.read_session() as session:
            if not observations.any_news(session, reports):
                return [ReportOutcome() for _ in reports]
        with self.database.session() as session:
            outcomes = observations.apply_container_reports(session, reports)
            self.publisher.publish(
                event for outcome in outcomes for event in events.report_events(outcome)
            )
        self.converge_services(outcomes)
        return outcomes

    def report_picture(self, sender: str, nonce: str, picture: dict[str, Any]) -> None:
        """A node's relist: every container it holds, applied in one transaction if it shows
        anything the records do not say already (judged in a read first)."""
        message = picture_on_reporters_clock(NodePicture.from_dict(picture))
        if not from_sender(TASK_REPORT_PICTURE, sender, message.node_uuid):
            return
        limits = {
            "stuck_after": self.settings.stuck_after,
            "orphan_grace": self.settings.orphan_grace,
        }
        with self.database.read_session() as session:
            news, orphans = reconcile.survey_node_picture(session, message, **limits)
        changed = 0
        if news:
            with self.database.session() as session:
                outcome = reconcile.apply_node_picture(session, message, **limits)
                self.publisher.publish(
                    event for applied in outcome.applied for event in events.report_events(applied)
                )
                changed = sum(applied.changed for applied in outcome.applied)
            self.converge_services(outcome.applied)
            orphans = outcome.orphans
        log.info(
            "node %s relisted %d containers: %d records changed",
            message.node_uuid,
            len(message.containers),
            changed,
        )
        for orphan in orphans:
            collect_orphan(
                self.dispatcher,
                message.node_uuid,
                orphan,
                remove=self.settings.orphans == "remove",
            )

    def converge_services(self, outcomes: Iterable[ReportOutcome]) -> None:
        """Take the next step of every service one of whose containers a report changed, in
        the report's own task: a client that sees the service's last container Running finds
        its operation closed (`ServiceControl.converge` plans in a read first, so a report
        that changes no step costs no write)."""
        for service_id in sorted(
            {
                outcome.container.service_id
                for outcome in outcomes
                if outcome.changed and outcome.container and outcome.container.service_id
            }
        ):
            self.control.converge(service_id)

    def claim_action(self, sender: str, nonce: str, claim: dict[str, Any]) -> dict[str, Any] | None:
        """A node agent asks before it runs an operation; it runs it only if granted. The
        verdict is sealed for the claimant and this claim (its nonce), so no other answer,
        forged or copied from an earlier claim, can pass for it."""
        request = ClaimRequest.from_dict(claim)
        if not from_sender(TASK_CLAIM_ACTION, sender, request.node_uuid):
            return None
        with request_context(request.request_id):
            return self._answer_claim(sender, nonce, request)

    def _answer_claim(
        self, sender: str, nonce: str, request: ClaimRequest
    ) -> dict[str, Any] | None:
        with self.database.session() as session:
            record, moved, verdict = actions.claim_action(session, request)
            if record is not None and moved:
                self.publisher.publish([events.action_event(record, events.UPDATE)])
        if verdict.granted:
            log.info("action %s claimed by node %s", request.action_uuid, request.node_uuid)
        else:
            log.warning(
                "claim of action %s by node %s refused: %s",
                request.action_uuid,
                request.node_uuid,
                verdict.reason,
            )
        key = self.keyring.key(sender)
        if key is None:  # revoked since the claim was admitted
            return None
        return signing.sealed(
            key,
            sender,
            f"{signing.TO_NODE}:{TASK_CLAIM_ACTION}",
            {"verdict": verdict.to_dict(), "claim": nonce},
        )

    def report_node(self, sender: str, nonce: str, report: dict[str, Any]) -> None:
        """A heartbeat sent as a task, by an agent older than the heartbeat queue."""
        message = NodeReport.from_dict(report)
        if from_sender(TASK_REPORT_NODE, sender, message.node_uuid):
            heartbeats.apply_heartbeats(self.database, self.publisher, [message])


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
