"""The only module that sends work to node agents.

Every operation (and every logs, log-stream and exec request) goes to the queue of the
container's node (`node.<uuid>`), so only that node's agent acts on it, sealed with that node's
key (`controlplane.core.signing`) so that its agent knows the control plane sent it and that it
is meant for this node. Broker failures become `BrokerUnavailableError`, which the API turns
into a 503 after undoing the state change, so a client never sees an action accepted that no
node will run.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu.exceptions import OperationalError

from controlplane.core import signing
from controlplane.core.errors import BrokerUnavailableError, NodeTimeoutError
from controlplane.core.messages import (
    OPERATION_TASKS,
    TASK_COLLECT,
    TASK_EXEC,
    TASK_LOGS,
    TASK_LOGS_STREAM,
    Collect,
    ExecRequest,
    LogStreamRequest,
    Operation,
    node_queue,
)
from controlplane.keyring import Keyring

log = logging.getLogger(__name__)

# Celery's result consumer reports a broker it cannot reconnect to as a RuntimeError
# ("Retry limit exceeded ...") rather than a connection error.
_BROKER_ERRORS = (OperationalError, RuntimeError)

# Fail fast when Redis is down instead of Celery's default of retrying for several seconds.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


class Dispatcher:
    def __init__(self, celery: Celery, keyring: Keyring, *, node_timeout: int) -> None:
        self.celery = celery
        self.keyring = keyring
        self.node_timeout = node_timeout

    def send_operation(self, node_uuid: str, operation: Operation) -> None:
        """Queue `operation` for the node's agent.

        Raises:
            BrokerUnavailableError: the broker could not take the message.
        """
        # ignore_result: without it Celery subscribes to a result that never comes, and with the
        # broker down that subscription retries for many seconds before failing.
        self._send(
            OPERATION_TASKS[operation.kind],
            node_uuid,
            {"operation": operation.to_dict()},
            ignore_result=True,
        )
        log.info(
            "queued %s of container %s on node %s (action %s)",
            operation.action,
            operation.container_uuid,
            node_uuid,
            operation.action_uuid,
        )

    def send_collect(self, node_uuid: str, collect: Collect) -> None:
        """Have the node remove an orphan.

        Raises:
            BrokerUnavailableError: the broker could not take the message.
        """
        self._send(TASK_COLLECT, node_uuid, {"collect": collect.to_dict()}, ignore_result=True)

    def fetch_logs(self, node_uuid: str, container_uuid: str, tail: int | None) -> str:
        """Ask the node's agent for a container's logs and wait for the answer.

        The request expires when the API stops waiting, so an agent that comes back late does
        not do work nobody will read.

        Raises:
            BrokerUnavailableError: the broker could not take the request.
            NodeTimeoutError: the agent did not answer within the node timeout.
        """
        key = self.keyring.current(node_uuid)
        kwargs = signing.sealed(
            key,
            node_uuid,
            f"{signing.TO_NODE}:{TASK_LOGS}",
            {"container_uuid": container_uuid, "tail": tail},
        )
        result = self._publish(TASK_LOGS, node_uuid, kwargs, expires=self.node_timeout)
        try:
            answer: dict[str, Any] = result.get(timeout=self.node_timeout)
        except CeleryTimeoutError:
            raise NodeTimeoutError(node=node_uuid, seconds=self.node_timeout) from None
        except _BROKER_ERRORS as exc:
            raise BrokerUnavailableError(detail=str(exc)) from exc
        finally:
            result.forget()
        return self._opened_logs(node_uuid, key, kwargs[signing.SEAL_FIELD]["nonce"], answer)

    def _opened_logs(self, node_uuid: str, key: bytes, nonce: str, answer: object) -> str:
        """The logs of an answer the node sealed for this very request; anything else is
        logged and taken for no answer at all."""
        try:
            if not isinstance(answer, dict):
                raise signing.SealError("an answer of no known form")
            body, _ = signing.unseal(
                answer,
                f"{signing.FROM_NODE}:{TASK_LOGS}",
                signing.NodeToken(node_uuid=node_uuid, key=key).key_for,
            )
            if body.get("request") != nonce:
                raise signing.SealError("sealed for another request")
        except signing.SealError as exc:
            log.warning("logs answer from node %s refused: %s", node_uuid, exc.reason)
            raise NodeTimeoutError(node=node_uuid, seconds=self.node_timeout) from None
        return str(body.get("logs", ""))

    def stream_logs(self, node_uuid: str, request: LogStreamRequest) -> None:
        """Ask the node's agent to stream a container's logs to the request's channel.

        The request expires with the node timeout, as a logs request does: a socket waits no
        longer than that for the stream to open.

        Raises:
            BrokerUnavailableError: the broker could not take the request.
        """
        self._send(
            TASK_LOGS_STREAM,
            node_uuid,
            {"request": request.to_dict()},
            ignore_result=True,
            expires=self.node_timeout,
        )

    def run_exec(self, node_uuid: str, request: ExecRequest) -> None:
        """Ask the node's agent to run a command in a container and stream its output to the
        request's channel.

        The request expires with the node timeout, like a log-stream request; the agent also
        refuses it once its seal is stale or its nonce seen (`workers.execstream`), since a copy
        would run the command again.

        Raises:
            BrokerUnavailableError: the broker could not take the request.
        """
        self._send(
            TASK_EXEC,
            node_uuid,
            {"request": request.to_dict()},
            ignore_result=True,
            expires=self.node_timeout,
        )

    def _send(self, task: str, node_uuid: str, kwargs: dict[str, Any], **options: Any) -> Any:
        """Seal `kwargs` for the node and queue the task."""
        subject = f"{signing.TO_NODE}:{task}"
        sealed = signing.sealed(self.keyring.current(node_uuid), node_uuid, subject, kwargs)
        return self._publish(task, node_uuid, sealed, **options)

    def _publish(self, task: str, node_uuid: str, kwargs: dict[str, Any], **options: Any) -> Any:
        try:
            return self.celery.send_task(
                task,
                kwargs=kwargs,
                queue=node_queue(node_uuid),
                retry=True,
                retry_policy=_PUBLISH_RETRY,
                **options,
            )
        except _BROKER_ERRORS as exc:
            log.error("broker unavailable while sending %s to node %s: %s", task, node_uuid, exc)
            raise BrokerUnavailableError(detail=str(exc)) from exc
