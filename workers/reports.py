"""Sending what the agent observed to the reporter on the "controlplane" queue.

Reports are the agent's only way to change the database. Each is self-contained and stamped with
its observation time, so the reporter can apply them in any order and any number of times.
"""

from __future__ import annotations

import time

from celery import Celery

from controlplane.lifecycle import State
from controlplane.messages import (
    REPORTER_QUEUE,
    TASK_REPORT_CONTAINER,
    TASK_REPORT_NODE,
    ContainerReport,
    NodeReport,
    Operation,
)
from workers.driver import NodeFacts, Observation


class Reports:
    def __init__(self, celery: Celery, *, node_uuid: str, node_name: str) -> None:
        self.celery = celery
        self.node_uuid = node_uuid
        self.node_name = node_name

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
            observed_ns=time.time_ns(),
        )
        self.celery.send_task(
            TASK_REPORT_NODE, kwargs={"report": report.to_dict()}, queue=REPORTER_QUEUE
        )

    def _send_container(self, report: ContainerReport) -> None:
        self.celery.send_task(
            TASK_REPORT_CONTAINER, kwargs={"report": report.to_dict()}, queue=REPORTER_QUEUE
        )
