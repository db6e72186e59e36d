"""Sending what the agent observed to the reporter on the "controlplane" queue.

Reports are the agent's only way to change the database. Each is self-contained and stamped with
its observation time, so the reporter can apply them in any order and any number of times. Each is
sealed with the node's key (`controlplane.core.signing`): the reporter applies nothing it cannot
tell came from this node, and the claim's verdict comes back sealed the same way.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.result import AsyncResult

from controlplane.core import signing
from controlplane.core.lifecycle import State
from controlplane.core.messages import (
    CLAIM_QUEUE,
    HEARTBEAT_QUEUE,
    REPORTER_QUEUE,
    TASK_CLAIM_ACTION,
    TASK_REPORT_CONTAINER,
    TASK_REPORT_CONTAINERS,
    TASK_REPORT_NODE,
    TASK_REPORT_PICTURE,
    ClaimRequest,
    ClaimVerdict,
    ContainerReport,
    NodePicture,
    NodeReport,
    Operation,
)
from controlplane.core.signing import NodeToken
from workers.engine import NodeFacts, NodeListing, Observation
from workers.errors import ClaimRefused, ClaimUnanswered

log = logging.getLogger(__name__)


class Claim:
    """The reporter's answer to a claim: may this node run the operation now?

    No grant, no operation (fail closed). The reporter grants a claim only while its Action is
    the container's open intent (`controlplane.db.actions.claim_action`), so a task delivered
    late, after the Action was canceled, closed or superseded, never acts. A claim that could
    not be sent or was not answered in time is neither: the operation waits and its task is
    retried (`ClaimUnanswered`), and an operation never runs on a guess.
    """

    def __init__(
        self,
        action_uuid: str,
        result: AsyncResult | None,
        *,
        timeout: float,
        token: NodeToken,
        nonce: str = "",
    ) -> None:
        """`result` is None when the claim could not be sent: nobody will answer it. `nonce` is
        the claim's seal's, which the verdict's seal must name."""
        self.action_uuid = action_uuid
        self.result = result
        self.timeout = timeout
        self.token = token
        self.nonce = nonce
        self._verdict: ClaimVerdict | None = None

    def check(self) -> None:
        """Wait for the answer (once) and return only if the claim was granted.

        Raises:
            ClaimRefused: the reporter refused the claim; the operation must never run.
            ClaimUnanswered: no answer; the operation must not run yet.
        """
        if self._verdict is None:
            self._verdict = self._ask()
        if not self._verdict.granted:
            raise ClaimRefused(self.action_uuid, self._verdict.reason or "refused")

    def _ask(self) -> ClaimVerdict:
        if self.result is None:
            raise ClaimUnanswered(self.action_uuid, "the claim could not be sent")
        try:
            try:
                answer = self.result.get(timeout=self.timeout, disable_sync_subtasks=False)
            finally:
                self.result.forget()
        except Exception as exc:  # timeout or broker trouble; kombu and Celery raise many kinds
            raise ClaimUnanswered(self.action_uuid, f"no answer: {exc!r}") from exc
        return self._opened(answer)

    def _opened(self, answer: object) -> ClaimVerdict:
        """The verdict the control plane sealed for this claim; any other answer is none."""
        try:
            if not isinstance(answer, dict):
                raise signing.SealError(f"an answer of no known form: {answer!r}")
            body, _ = signing.unseal(
                answer, f"{signing.TO_NODE}:{TASK_CLAIM_ACTION}", self.token.key_for
            )
            if body.get("claim") != self.nonce:
                raise signing.SealError("sealed for another claim")
            return ClaimVerdict.from_dict(body["verdict"])
        except (signing.SealError, KeyError, TypeError) as exc:
            reason = exc.reason if isinstance(exc, signing.SealError) else repr(exc)
            raise ClaimUnanswered(self.action_uuid, f"an answer refused: {reason}") from None


class Reports:
    def __init__(
        self,
        celery: Celery,
        *,
        token: NodeToken,
        tags: tuple[str, ...] = (),
        claim_timeout: float = 10,
    ) -> None:
        self.celery = celery
        self.token = token
        self.node_uuid = token.node_uuid
        self.tags = tags
        self.claim_timeout = claim_timeout

    def claim(self, operation: Operation) -> Claim:
        """Ask the control plane whether to run `operation`, naming this node; `Claim.check`
        waits for the verdict."""
        claim = ClaimRequest(
            action_uuid=operation.action_uuid,
            container_uuid=operation.container_uuid,
            node_uuid=self.node_uuid,
            request_id=operation.request_id,
        )
        kwargs = self.sealed(TASK_CLAIM_ACTION, {"claim": claim.to_dict()})
        try:
            result = self.celery.send_task(TASK_CLAIM_ACTION, kwargs=kwargs, queue=CLAIM_QUEUE)
        except Exception as exc:  # broker trouble; kombu raises many kinds
            log.warning("claim of action %s not sent: %s", operation.action_uuid, exc)
            return Claim(operation.action_uuid, None, timeout=0, token=self.token)
        return Claim(
            operation.action_uuid,
            result,
            timeout=self.claim_timeout,
            token=self.token,
            nonce=kwargs[signing.SEAL_FIELD]["nonce"],
        )

    def sealed(self, task: str, body: dict[str, Any]) -> dict[str, Any]:
        """`body` sealed by this node as a `task` message (`controlplane.core.signing`)."""
        return signing.sealed(self.token.key, self.node_uuid, f"{signing.FROM_NODE}:{task}", body)

    def observed(
        self, container_uuid: str, observation: Observation, *, action_uuid: str | None
    ) -> None:
        self._send_container(self._report(container_uuid, observation, action_uuid=action_uuid))

    def send_batch(self, reports: list[dict[str, Any]]) -> None:
        """Several container reports in one message, applied in one transaction."""
        self._send(TASK_REPORT_CONTAINERS, {"reports": reports})

    def encode(self, container_uuid: str, observation: Observation) -> dict[str, Any]:
        """The wire form of an observation nobody asked for (no Action to close), for a
        `ReportBatch` or a picture; sends nothing."""
        return self._report(container_uuid, observation, action_uuid=None).to_dict()

    def picture(self, listing: NodeListing, *, observed_ns: int) -> None:
        """Send every container of the node in one message (the relist), which the reporter
        applies in one transaction."""
        picture = NodePicture(
            node_uuid=self.node_uuid,
            observed_ns=observed_ns,
            containers=[
                self.encode(uuid, observation) for uuid, observation in listing.observations.items()
            ],
            docker=[listed.to_dict() for listed in listing.inventory],
        )
        self._send(TASK_REPORT_PICTURE, {"picture": picture.to_dict()})

    def _report(
        self, container_uuid: str, observation: Observation, *, action_uuid: str | None
    ) -> ContainerReport:
        return ContainerReport(
            container_uuid=container_uuid,
            state=observation.state.value,
            observed_ns=observation.observed_ns,
            node_uuid=self.node_uuid,
            action_uuid=action_uuid,
            exit_code=observation.exit_code,
            docker_id=observation.docker_id,
            ports=observation.ports,
            reason=observation.reason,
            paused=observation.paused,
        )

    def failed(self, operation: Operation, reason: str, *, state: State | None = None) -> None:
        """The operation failed: return the container to the state it was accepted from, or
        to `state` when the failure left it somewhere else."""
        self._send_container(
            ContainerReport(
                container_uuid=operation.container_uuid,
                state=(state or State(operation.rollback_state)).value,
                observed_ns=time.time_ns(),
                node_uuid=self.node_uuid,
                action_uuid=operation.action_uuid,
                error=reason,
            )
        )

    def node(self, facts: NodeFacts) -> None:
        report = NodeReport(
            node_uuid=self.node_uuid,
            docker_version=facts.docker_version,
            cpu=facts.cpu,
            memory_mb=facts.memory_mb,
            disk_gb=facts.disk_gb,
            tags=list(self.tags),
            observed_ns=time.time_ns(),
        )
        self._send(TASK_REPORT_NODE, {"report": report.to_dict()}, queue=HEARTBEAT_QUEUE)

    def _send_container(self, report: ContainerReport) -> None:
        self._send(TASK_REPORT_CONTAINER, {"report": report.to_dict()})

    def _send(self, task: str, body: dict[str, Any], *, queue: str = REPORTER_QUEUE) -> None:
        self.celery.send_task(task, kwargs=self.sealed(task, body), queue=queue)


class ReportBatch:
    """Coalesces reports sent in a burst into few messages.

    `put` never blocks. A sender thread sends the first waiting report at once, together with
    every report queued behind it (up to `max_size`), so a quiet node's report leaves at once and
    a burst of hundreds of events costs a handful of messages and reporter transactions instead
    of hundreds. A failed send (broker down) is logged and the batch dropped: the relist repairs
    what it carried.
    """

    def __init__(self, send: Callable[[list[dict[str, Any]]], None], *, max_size: int = 500):
        self.send = send
        self.max_size = max_size
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="report-batch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Send what is queued, then end the sender."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def put(self, report: dict[str, Any]) -> None:
        self._queue.put(report)

    def _run(self) -> None:
        running = True
        while running:
            first = self._queue.get()
            batch = [] if first is None else [first]
            running = first is not None
            while running and len(batch) < self.max_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    running = False
                else:
                    batch.append(item)
            if batch:
                self._send(batch)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.send(batch)
        except Exception as exc:  # kombu raises many kinds; the relist repairs a lost batch
            log.warning(
                "sending %d reports failed, the relist will repair them: %s", len(batch), exc
            )
