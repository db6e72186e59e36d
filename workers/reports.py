"""Sending what the agent observed to the reporter on the "controlplane" queue.

Reports are the agent's only way to change the database. Each is self-contained and stamped with
its observation time, so the reporter can apply them in any order and any number of times.
"""

from __future__ import annotations

import logging
import time

from celery import Celery

from controlplane.lifecycle import State
from controlplane.messages import (
    CANCELED,
    CLAIM_QUEUE,
    REPORTER_QUEUE,
    TASK_CLAIM_ACTION,
    TASK_REPORT_CONTAINER,
    TASK_REPORT_NODE,
    ContainerReport,
    NodeReport,
    Operation,
)
from workers.driver import NodeFacts, Observation

log = logging.getLogger(__name__)


class Reports:
    def __init__(
        self,
        celery: Celery,
        *,
        node_uuid: str,
        node_name: str,
        tags: tuple[str, ...] = (),
        claim_timeout: float = 10,
    ) -> None:
        self.celery = celery
        self.node_uuid = node_uuid
        self.node_name = node_name
        self.tags = tags
        self.claim_timeout = claim_timeout

    def claim(self, operation: Operation) -> bool:
        """Ask the control plane whether to run `operation`: False when its Action was canceled.

        The reporter's conditional update decides a race between this claim and a cancel. If
        the reporter does not answer in time the operation runs anyway (fail open): a cancel is
        a courtesy, while an operation that never runs would strand the container.
        """
        try:
            state = self._ask_claim(operation.action_uuid)
        except Exception as exc:  # timeout or broker trouble; kombu and Celery raise many kinds
            log.warning(
                "claim of action %s unanswered (%s); running it", operation.action_uuid, exc
            )
            return True
        return bool(state != CANCELED)

    def _ask_claim(self, action_uuid: str) -> str | None:
        result = self.celery.send_task(
            TASK_CLAIM_ACTION, kwargs={"action_uuid": action_uuid}, queue=CLAIM_QUEUE
        )
        try:
            state: str | None = result.get(timeout=self.claim_timeout, disable_sync_subtasks=False)
        finally:
            result.forget()
        return state

    def observed(
        self, container_uuid: str, observation: Observation, *, action_uuid: str | None
    ) -> None:
        self._send_container(
            ContainerReport(
                container_uuid=container_uuid,
                state=observation.state.value,
                observed_ns=observation.observed_ns,
                node_uuid=self.node_uuid,
                action_uuid=action_uuid,
                exit_code=observation.exit_code,
                docker_id=observation.docker_id,
                ports=observation.ports,
            )
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
            name=self.node_name,
            docker_version=facts.docker_version,
            cpu=facts.cpu,
            memory_mb=facts.memory_mb,
            disk_gb=facts.disk_gb,
            tags=list(self.tags),
            observed_ns=time.time_ns(),
        )
        self.celery.send_task(
            TASK_REPORT_NODE, kwargs={"report": report.to_dict()}, queue=REPORTER_QUEUE
        )

    def _send_container(self, report: ContainerReport) -> None:
        self.celery.send_task(
            TASK_REPORT_CONTAINER, kwargs={"report": report.to_dict()}, queue=REPORTER_QUEUE
        )
