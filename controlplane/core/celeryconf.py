"""The Celery settings every process shares: API, reporter and node agents.

Stdlib-only (a plain dict), so the node agent builds its Celery app from the same settings
without importing anything else of the control plane. Both ends must agree on these: a
visibility timeout that differs between processes would let Redis redeliver a task that a slow
worker still runs.
"""

from __future__ import annotations

from typing import Any

from controlplane.core.messages import REPORTER_QUEUE


def celery_config(broker_url: str, *, visibility_timeout: int) -> dict[str, Any]:
    """Celery configuration for a process talking to the broker at `broker_url`.

    Tasks are acknowledged after they finish (`acks_late`), so a worker killed mid-task leaves the
    message to be redelivered; every task is idempotent for that reason. Results are kept only for
    the tasks that ask for them (logs), briefly.
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
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        "enable_utc": True,
    }


def worker_argv(queues: list[str], *, hostname: str, concurrency: int, loglevel: str) -> list[str]:
    """Arguments for `Celery.worker_main`: a thread pool (every task waits on I/O: Docker, the
    database) consuming only `queues`. Celery's gossip, mingle and worker heartbeats are off: the
    control plane keeps its own node heartbeat and nothing uses theirs."""
    return [
        "worker",
        "--queues", ",".join(queues),
        "--pool", "threads",
        "--concurrency", str(concurrency),
        "--hostname", hostname,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", loglevel,
    ]  # fmt: skip
