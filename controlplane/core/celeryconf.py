"""The Celery settings every process shares: API, reporter and node agents.

Stdlib-only (a plain dict), so the node agent builds its Celery app from the same settings
without importing anything else of the control plane. Both ends must agree on these: a
visibility timeout that differs between processes would let Redis redeliver a task that a slow
worker still runs.
"""

from __future__ import annotations

import logging
from typing import Any

from controlplane.core.messages import REPORTER_QUEUE

# The loggers of Celery's "Task ... received" (worker.strategy) and "Task ... succeeded in ...:
# <return value>" (app.trace) lines, and the context keys of theirs that hold a task's payload.
TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")
PAYLOAD_KEYS = ("return_value", "args", "kwargs")
NOT_LOGGED = "(not logged)"


def celery_config(
    broker_url: str,
    *,
    visibility_timeout: int,
    remote_control: bool = False,
    task_events: bool = False,
) -> dict[str, Any]:
    """Celery configuration for a process talking to the broker at `broker_url`.

    Tasks are acknowledged after they finish (`acks_late`), so a worker killed mid-task leaves the
    message to be redelivered; every task is idempotent for that reason. Results are kept only for
    the tasks that ask for them (logs), briefly.

    A worker obeys Celery's remote control (`celery inspect`, `celery control shutdown`, revoke,
    Flower's buttons) only when `remote_control` is set: those commands come unsealed from anyone
    who can reach the broker, every node among them, and a worker that obeyed them would stop or
    drop its work on an unauthenticated word. Task events (`task_events`, for Flower) are off
    unless asked for too.
    """
    return {
        "broker_url": broker_url,
        "result_backend": broker_url,
        "result_expires": 300,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": REPORTER_QUEUE,
        "broker_transport_options": {"visibility_timeout": visibility_timeout},
        # The result store is only waited on by a client request (logs): give up on a dead broker
        # within a second instead of Celery's default of about twenty.
        "result_backend_transport_options": {
            "visibility_timeout": visibility_timeout,
            "retry_policy": {
                "max_retries": 2,
                "interval_start": 0,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
        },
        "broker_connection_retry_on_startup": True,
        # A worker never gives up on its broker (Celery's default stops after 100 attempts): a
        # node whose agent exited stays Unreachable until a person notices.
        "broker_connection_max_retries": None,
        "worker_hijack_root_logger": False,
        "worker_enable_remote_control": remote_control,
        "worker_send_task_events": task_events,
        "task_send_sent_event": False,
        "enable_utc": True,
    }


def worker_argv(
    queues: list[str], *, hostname: str, concurrency: int, loglevel: str, quiet: bool = False
) -> list[str]:
    """Arguments for `Celery.worker_main`: a thread pool (every task waits on I/O: Docker, the
    database) consuming only `queues`. Celery's gossip, mingle and worker heartbeats are off: the
    control plane keeps its own node heartbeat and nothing uses theirs. `quiet` leaves out the
    start-up banner, which is no log record: a process that logs JSON lines writes only those."""
    return [
        *(["--quiet"] if quiet else []),
        "worker",
        "--queues", ",".join(queues),
        "--pool", "threads",
        "--concurrency", str(concurrency),
        "--hostname", hostname,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", loglevel,
    ]  # fmt: skip


class TaskPayloadFilter(logging.Filter):
    """Keeps tasks' arguments and return values out of Celery's task log lines.

    Celery logs every success at INFO as "Task <name>[<id>] succeeded in <s>s: <return value>",
    so the REST logs task's answer (a container's output) and the reporter's claim verdicts
    would land in agent.log and reporter.log. Celery 5 has no setting for it: `worker_log_format`
    and `worker_task_log_format` only shape the line around the message (and are not used at all
    with `worker_hijack_root_logger` off), and the message is the module constant
    `celery.app.trace.LOG_SUCCESS`, which only a monkeypatch of Celery's internals could change.
    Celery does document how those lines are made: the message's arguments are one context
    dict, also passed as the record's `data` for custom handlers. A stdlib filter on the two
    loggers that replaces the payload keys of that dict is public API on both sides, needs no
    import of Celery (so this module stays stdlib-only), and keeps the line itself, with the
    task's name, id and run time.

    The "received" line's format shows no arguments (it is `Task <name>[<id>] received`), but its
    context holds them, so they are replaced there too, in case a handler prints `data`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = _without_payload(record.args)
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            record.data = _without_payload(data)
        return True


def _without_payload(context: dict[str, Any]) -> dict[str, Any]:
    return {key: NOT_LOGGED if key in PAYLOAD_KEYS else value for key, value in context.items()}


def keep_task_payloads_out_of_logs() -> None:
    """Install TaskPayloadFilter on Celery's task loggers (once; every worker process calls it
    before its worker starts)."""
    for name in TASK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, TaskPayloadFilter) for existing in logger.filters):
            logger.addFilter(TaskPayloadFilter())
