"""Heartbeats in batches: a thread of the reporter drains the heartbeat queue and applies what it
took in one transaction.

A thousand nodes beating every 5 s send 200 heartbeats a second. As Celery tasks each cost a
task's bookkeeping, two log lines, a key lookup, two Redis round trips for its nonce and a write
transaction, which took most of a core and still fell behind (docs/performance.md §6.9). Here a
kombu consumer (with reconnects, as the API's events listener has) collects the messages as they
come and, once `batch` are waiting or the oldest has waited `linger` seconds, opens them all:
the senders' keys read in one query (`Keyring.refresh`), the seals checked as the gate checks
every message, their nonces checked and spent in one pipeline each, and the nodes refreshed in
one transaction (`nodes.apply_node_reports`). A batch the database refuses is applied again one
heartbeat at a time, so one node's bad report cannot keep a thousand others from counting.

Heartbeats are taken without acknowledgements (kombu's `no_ack`, which spares the broker two round
trips a message): a reporter killed with a batch in hand loses at most `linger` seconds of them,
and every node sends another within its interval, far inside the node grace.

What is refused (a bad seal, a replay, a node speaking for another) is logged and dropped, as
the gate does for a task. Agents older than the queue send their heartbeats to the reporter's
task queue, where `Reporter.report_node` applies them one by one through the same
`apply_heartbeats`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from kombu import Connection, Consumer, Exchange, Message, Queue
from kombu.mixins import ConsumerMixin
from sqlalchemy.exc import SQLAlchemyError

from controlplane import events
from controlplane.core import lifecycle
from controlplane.core.messages import HEARTBEAT_QUEUE, TASK_REPORT_NODE, NodeReport
from controlplane.core.signing import SEAL_FIELD, Seal, SealError
from controlplane.db import nodes
from controlplane.db.engine import Database
from controlplane.reporter.gate import Gate, from_sender

log = logging.getLogger(__name__)

# The queue as Celery declares it for `send_task(queue=HEARTBEAT_QUEUE)`: a direct exchange of
# the same name, bound by the queue's name.
QUEUE = Queue(
    HEARTBEAT_QUEUE, Exchange(HEARTBEAT_QUEUE, type="direct"), routing_key=HEARTBEAT_QUEUE
)
# How long a drain blocks on the broker before the batch is looked at again.
_DRAIN_SECONDS = 0.1
# How long the intake waits after an error it did not expect before it consumes again.
_RESTART_SECONDS = 1.0


def waiting(client: redis.Redis) -> int:
    """How many heartbeats wait in the queue, not yet taken by any reporter's intake (kombu
    keeps a queue as a Redis list of its name); 0 if Redis cannot say."""
    try:
        return int(client.llen(HEARTBEAT_QUEUE))
    except redis.RedisError:
        return 0


def apply_heartbeats(
    database: Database, publisher: events.EventPublisher, reports: list[NodeReport]
) -> None:
    """Refresh the nodes the reports are from, announce each whose state changed (its first
    report, or back from Unreachable), and log it; a report from a node not enrolled (revoked
    since its seal was checked) is logged and dropped."""
    with database.session() as session:
        applied = nodes.apply_node_reports(session, reports)
        publisher.publish(
            events.node_event(node, events.UPDATE)
            for node, previous in applied
            if previous != node.state
        )
        seen = {node.uuid: (node.name, previous, node.state) for node, previous in applied}
    for report in reports:
        if report.node_uuid not in seen:
            log.warning("heartbeat from node %s refused: not enrolled", report.node_uuid)
            continue
        name, previous, state = seen[report.node_uuid]
        log_node_report(name, report, previous=previous, state=state)


def log_node_report(name: str, report: NodeReport, *, previous: str, state: str) -> None:
    """Log what a node report changed. A node's first report and a change of state are worth an
    operator's attention; a plain heartbeat, every few seconds from every node, is not (DEBUG)."""
    if previous == lifecycle.NodeState.DEPLOYING.value:
        log.info(
            "node %s (%s) registered, Docker %s", report.node_uuid, name, report.docker_version
        )
    elif previous != state:
        log.info("node %s (%s) is %s again (was %s)", report.node_uuid, name, state, previous)
    else:
        log.debug("heartbeat from node %s (%s)", report.node_uuid, name)


@dataclass
class _Delivery:
    kwargs: dict[str, Any]
    task_id: str


class HeartbeatIntake(ConsumerMixin):
    """The thread that drains the heartbeat queue; `start` and `stop` as the sweepers'.
    `refresh_keys` reads the keys of the nodes a batch names before their seals are checked
    (`Keyring.refresh`); `apply` writes the batch (`apply_heartbeats`)."""

    def __init__(
        self,
        connection: Callable[[], Connection],
        gate: Gate,
        refresh_keys: Callable[[set[str]], None],
        apply: Callable[[list[NodeReport]], None],
        *,
        batch: int = 500,
        linger: float = 0.2,
        queue: Queue = QUEUE,
    ) -> None:
        self.connection = connection()
        self.gate = gate
        self.refresh_keys = refresh_keys
        self.apply = apply
        self.batch = batch
        self.linger = linger
        self.queue = queue
        self._pending: list[_Delivery] = []
        self._oldest = 0.0
        self._thread = threading.Thread(target=self._run, name="heartbeat-intake", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.should_stop = True
        self._thread.join(timeout=5)

    def _run(self) -> None:
        """Consume until stopped. kombu's loop reconnects after a broker failure by itself;
        anything else (Redis away for the nonces, a bug) is logged and consuming starts again,
        since a dead intake would let every node's lease run out."""
        while not self.should_stop:
            try:
                self.run(safety_interval=_DRAIN_SECONDS)
            except Exception:
                log.exception("heartbeat intake failed, starting again")
                self._pending.clear()
                time.sleep(_RESTART_SECONDS)

    def get_consumers(self, consumer: Callable[..., Consumer], channel: Any) -> list[Consumer]:
        return [
            consumer(
                queues=[self.queue],
                callbacks=[self._collect],
                accept=["json"],
                no_ack=True,
            )
        ]

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        log.warning("heartbeat intake lost the broker, retrying in %.1f s: %s", interval, exc)

    def on_iteration(self) -> None:
        waited = time.monotonic() - self._oldest
        if self._pending and (len(self._pending) >= self.batch or waited >= self.linger):
            self.flush()

    def _collect(self, body: Any, message: Message) -> None:
        """Keep a heartbeat (a Celery task message: `[args, kwargs, embed]`) for the batch."""
        task = message.headers.get("task")
        kwargs = body[1] if isinstance(body, list | tuple) and len(body) == 3 else None
        if task != TASK_REPORT_NODE or not isinstance(kwargs, dict):
            log.warning("dropped a message of no known form from the heartbeat queue: %s", task)
            return
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(_Delivery(kwargs, str(message.headers.get("id", ""))))

    def flush(self) -> None:
        """Apply the waiting heartbeats in one go; if the database refuses the batch, one by
        one, each refused one logged and dropped."""
        pending, self._pending = self._pending, []
        seals, reports = self._admitted(pending)
        try:
            self.apply(reports)
        except SQLAlchemyError as exc:
            log.warning("a batch of %d heartbeats failed, one by one now: %s", len(reports), exc)
            for report in reports:
                try:
                    self.apply([report])
                except SQLAlchemyError as one:
                    log.warning("heartbeat of node %s dropped: %s", report.node_uuid, one)
        self.gate.spend_many(seals)
        log.debug("applied %d heartbeats", len(reports))

    def _admitted(self, pending: list[_Delivery]) -> tuple[list[Seal], list[NodeReport]]:
        """The seals and reports of the heartbeats the gate lets in, each speaking for its
        sender; the others logged."""
        self.refresh_keys({_named_node(d.kwargs) for d in pending} - {""})
        opened = self.gate.admit_many(
            TASK_REPORT_NODE, [(delivery.kwargs, delivery.task_id) for delivery in pending]
        )
        seals, reports = [], []
        for result in opened:
            if isinstance(result, SealError):
                log.warning("refused a %s message: %s", TASK_REPORT_NODE, result.reason)
                continue
            body, sealed = result
            seals.append(sealed)
            report = body.get("report")
            if not isinstance(report, dict):
                log.warning("dropped a heartbeat of no known form from node %s", sealed.node_uuid)
                continue
            try:
                heartbeat = NodeReport.from_dict(report)
            except TypeError as exc:  # a field missing
                log.warning("dropped a malformed heartbeat from node %s: %s", sealed.node_uuid, exc)
                continue
            if from_sender(TASK_REPORT_NODE, sealed.node_uuid, heartbeat.node_uuid):
                reports.append(heartbeat)
        return seals, reports


def _named_node(kwargs: dict[str, Any]) -> str:
    """The node a message's seal names, unchecked: only to read its key ahead of the check."""
    seal = kwargs.get(SEAL_FIELD)
    node = seal.get("node_uuid") if isinstance(seal, dict) else None
    return node if isinstance(node, str) else ""
