"""The agent's Celery tasks: decode the message, claim it, call the driver, report the outcome.

Every operation is fenced: it runs only once the reporter grants its claim, which it does only
while the operation's Action is the container's open intent (`workers.reports.Claim`). A task
delivered late (redelivered by the broker after its visibility timeout, or queued before the
user acted again) is refused and acknowledged, never run. A claim nobody answered is retried
later with the whole task, never run on a guess.

Every task must come sealed by the control plane for this node (`controlplane.core.signing`);
one that is not is logged and acknowledged, never run, whatever it asks. An exec, which no claim
fences, must also be fresh and never seen before (`workers.execstream.RequestGuard`).

Every task is idempotent (the driver looks containers up by label before acting), because with
`acks_late` a task interrupted by a crash is delivered again. A failed operation is reported, not
raised: the container goes back to the state it came from and its Action says why. Only a broker
failure while reporting is retried, since retrying re-runs an idempotent operation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from celery import Celery, Task
from kombu.exceptions import OperationalError

from controlplane.core import policy, signing
from controlplane.core.errors import DangerousOptionForbiddenError
from controlplane.core.lifecycle import Action, State
from controlplane.core.logcontext import request_context
from controlplane.core.messages import (
    OPERATION_TASKS,
    TASK_COLLECT,
    TASK_EXEC,
    TASK_LOGS,
    TASK_LOGS_STREAM,
    Collect,
    ContainerSpec,
    ExecRequest,
    LogStreamRequest,
    Operation,
)
from controlplane.core.signing import NodeToken, Seal
from workers import metrics
from workers.engine import Engine, Observation
from workers.errors import AgentError, ClaimRefused, ClaimUnanswered, NodePolicyError
from workers.inflight import Inflight
from workers.reports import Reports

if TYPE_CHECKING:  # both import the Docker driver; the operations need only an `Engine`
    from workers.execstream import ExecStreams
    from workers.logstream import LogStreams

log = logging.getLogger(__name__)

CLAIM_RETRY_MAX_SECONDS = 30
_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 0.5,
    "retry_backoff_max": 10,
    "max_retries": None,
}


def run_operation(
    driver: Engine,
    inflight: Inflight,
    reports: Reports,
    operation: Operation,
    *,
    allow_dangerous: Collection[str] = frozenset(),
) -> None:
    """Carry out one lifecycle operation and report what came of it, if its claim is granted.
    `inflight` knows it runs meanwhile, so the events watcher leaves the events it causes to
    this report.

    Raises:
        ClaimUnanswered: nobody answered the claim; the task must be retried.
    """
    claim = reports.claim(operation)
    try:
        claim.check()
        check_node_policy(operation, allow_dangerous)
        with metrics.DURATION.labels(operation.action).time():
            observation = _execute(driver, inflight, operation)
    except ClaimRefused as exc:
        log.warning(
            "%s of container %s not run: the claim of action %s was refused: %s",
            operation.action,
            operation.container_uuid,
            operation.action_uuid,
            exc.reason,
        )
        _count(operation, "refused")
        return
    except ClaimUnanswered:
        _count(operation, "unanswered")
        raise
    except AgentError as exc:
        _count(operation, "failed")
        _report_failure(reports, operation, str(exc), state=exc.state)
        return
    except Exception as exc:  # a bug must not leave the container in a transitional state
        log.exception(
            "unexpected error during %s of %s", operation.action, operation.container_uuid
        )
        _count(operation, "error")
        _report_failure(reports, operation, f"internal agent error: {exc!r}")
        return
    _count(operation, "succeeded")
    log.info(
        "%s of container %s: %s",
        operation.action,
        operation.container_uuid,
        observation.state.value,
    )
    reports.observed(operation.container_uuid, observation, action_uuid=operation.action_uuid)


def _count(operation: Operation, outcome: str) -> None:
    metrics.OPERATIONS.labels(operation.action, outcome).inc()


def check_node_policy(operation: Operation, allow_dangerous: Collection[str]) -> None:
    """Check a creating operation's definition against the node's own allow-list before
    anything is made. The control plane checks the same options against its own list; this
    node trusts no task to have been checked, so a mistaken one cannot escalate.

    Raises:
        NodePolicyError: naming the first dangerous option this node does not allow.
    """
    if operation.spec is None:
        return
    try:
        policy.check_allowed(operation.spec, allow_dangerous)
    except DangerousOptionForbiddenError as exc:
        option = exc.kwargs["option"]
        raise NodePolicyError(
            f"{exc.kwargs['field']}: this node does not run containers with the {option} "
            f"option; its operator can allow it with CONTROLPLANE_AGENT_ALLOW_DANGEROUS={option}"
        ) from None


def _execute(driver: Engine, inflight: Inflight, operation: Operation) -> Observation:
    """Run a granted operation: nothing reaches Docker before its claim is granted."""
    kind = operation.kind
    if kind is Action.START:
        spec = ContainerSpec.from_dict(operation.spec or {})
        with inflight.starting(operation.container_uuid):
            return driver.start(
                spec,
                issued_ns=operation.issued_ns,
                fresh=operation.rollback_state == State.INIT.value,
            )
    # The container's die and destroy events are this operation's doing, not news.
    with inflight.stopping(operation.container_uuid):
        return _wind_down(driver, operation)


def _wind_down(driver: Engine, operation: Operation) -> Observation:
    """Stop, replace or remove a container."""
    kind = operation.kind
    if kind is Action.REDEPLOY:
        return driver.redeploy(
            ContainerSpec.from_dict(operation.spec or {}),
            issued_ns=operation.issued_ns,
            reuse_volumes=operation.reuse_volumes,
            stop_timeout=operation.stop_timeout,
        )
    if kind is Action.STOP:
        return driver.stop(operation.container_uuid, timeout=operation.stop_timeout)
    return driver.remove(operation.container_uuid)


def _report_failure(
    reports: Reports, operation: Operation, reason: str, *, state: State | None = None
) -> None:
    log.warning("%s of container %s failed: %s", operation.action, operation.container_uuid, reason)
    reports.failed(operation, reason, state=state)


def collect_orphan(driver: Engine, inflight: Inflight, orphan: Collect) -> None:
    """Remove an orphan the reporter found at the last relist, unless an operation on its
    uuid runs here now (that operation's own container is no orphan of its record)."""
    uuid = orphan.container_uuid
    if inflight.being_started(uuid) or inflight.winding_down(uuid):
        log.info("orphan %s of %s kept: an operation on it runs now", orphan.docker_id[:12], uuid)
        return
    try:
        removed = driver.collect(orphan)
    except AgentError as exc:
        log.warning("orphan %s of %s not removed: %s", orphan.docker_id[:12], uuid, exc)
        return
    if removed:
        log.warning("removed orphan %s of %s: %s", orphan.docker_id[:12], uuid, orphan.reason)


def claim_retry_delay(retries: int) -> float:
    """Seconds before a task whose claim went unanswered tries again: doubling from one second
    to at most thirty, so a reporter that is back is heard from soon and one that stays down is
    not flooded with claims."""
    return float(min(2**retries, CLAIM_RETRY_MAX_SECONDS))


def opened(token: NodeToken, task: str, message: dict[str, Any]) -> tuple[dict[str, Any], Seal]:
    """The body of a task the control plane sealed for this node, and its seal.

    Raises:
        SealError: it did not; the task must not run.
    """
    return signing.unseal(message, f"{signing.TO_NODE}:{task}", token.key_for)


def sealed_task(
    app: Celery, token: NodeToken, name: str, **options: Any
) -> Callable[[Callable[..., Any]], Any]:
    """Register `run` as the task `name`, run only for a message the control plane sealed for
    this node; `run` gets the Celery task, the seal and the message's body."""

    def register(run: Callable[..., Any]) -> Any:
        @app.task(name=name, bind=True, **options)
        def task(self: Task, **message: Any) -> Any:
            try:
                body, sealed = opened(token, name, message)
            except signing.SealError as exc:
                log.warning("refused a %s task: %s", name, exc.reason)
                return None
            return run(self, sealed, **body)

        return task

    return register


def register_tasks(
    app: Celery,
    driver: Engine,
    inflight: Inflight,
    reports: Reports,
    streams: LogStreams,
    execs: ExecStreams,
    *,
    allow_dangerous: Collection[str] = frozenset(),
) -> None:
    """Bind the agent's tasks to `app`, with this node's driver, its record of the operations
    running, report sender, log streams and execs."""

    def operation_task(name: str) -> None:
        @sealed_task(app, reports.token, name, **_RETRY)
        def task(self: Task, sealed: Seal, operation: dict[str, Any]) -> None:
            message = Operation.from_dict(operation)
            try:
                with request_context(message.request_id):
                    run_operation(
                        driver, inflight, reports, message, allow_dangerous=allow_dangerous
                    )
            except ClaimUnanswered as exc:
                delay = claim_retry_delay(self.request.retries)
                log.warning("%s; the %s is tried again in %s s", exc, message.action, delay)
                raise self.retry(countdown=delay, exc=exc) from exc

    for name in OPERATION_TASKS.values():
        operation_task(name)

    @sealed_task(app, reports.token, TASK_COLLECT)
    def collect(self: Task, sealed: Seal, collect: dict[str, Any]) -> None:
        collect_orphan(driver, inflight, Collect.from_dict(collect))

    @sealed_task(app, reports.token, TASK_LOGS, ignore_result=False)
    def logs(self: Task, sealed: Seal, container_uuid: str, tail: int | None) -> dict[str, Any]:
        """Answered through the result backend, sealed for this request; an error is an
        answer, not an exception, so the API can show it instead of a deserialised traceback."""
        try:
            answer = {"logs": driver.logs(container_uuid, tail=tail)}
        except AgentError as exc:
            answer = {"logs": "", "error": str(exc)}
        return reports.sealed(TASK_LOGS, {**answer, "request": sealed.nonce})

    @sealed_task(app, reports.token, TASK_LOGS_STREAM)
    def stream_logs(self: Task, sealed: Seal, request: dict[str, Any]) -> None:
        """Only starts the stream, which runs in its own thread: a follower may last for hours
        and must not hold a slot of the task pool."""
        streams.start(LogStreamRequest.from_dict(request))

    @sealed_task(app, reports.token, TASK_EXEC)
    def exec_command(self: Task, sealed: Seal, request: dict[str, Any]) -> None:
        """Only admits the exec and starts it in its own thread: a command may run for hours
        and must not hold a slot of the task pool."""
        execs.start(ExecRequest.from_dict(request), sealed)
