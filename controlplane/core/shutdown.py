"""Telling a worker that was asked to stop from one that stopped by itself.

Both Celery workers (the reporter and the node agent) run `Celery.worker_main`, which returns
normally whatever happened: Celery's click command is run with `standalone_mode=False`, so the
worker's own exit code (EX_FAILURE after an error Celery calls unrecoverable, such as kombu
5.7's AttributeError on closing a Redis channel that went away) is dropped, and the process
would exit with status 0. A supervisor that restarts on failure would then leave the node dead.
So the worker's end is judged here: without a shutdown request, it is a failure.

Stdlib-only: the caller hands in Celery's `worker_shutting_down` signal (sent when SIGTERM,
SIGINT or SIGQUIT reaches the worker), so the agent can share this without importing Celery
through the core.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

# The exit status of a worker that stopped without being asked to.
EXIT_UNEXPECTED = 1


class ShutdownSignal(Protocol):
    """What is used of a Celery signal (celery.utils.dispatch.Signal)."""

    def connect(self, receiver: Callable[..., Any], *, weak: bool) -> Any: ...

    def disconnect(self, receiver: Callable[..., Any]) -> Any: ...


def run_worker(start: Callable[[], object], shutting_down: ShutdownSignal) -> None:
    """Run a worker until it stops; return only if it was asked to stop.

    Raises:
        SystemExit: with EXIT_UNEXPECTED when the worker stopped by itself.
    """
    requested = threading.Event()

    def on_shutting_down(**_: Any) -> None:
        requested.set()

    shutting_down.connect(on_shutting_down, weak=False)
    try:
        start()
    except SystemExit as exc:
        if exc.code not in (0, None) or requested.is_set():
            raise
    finally:
        shutting_down.disconnect(on_shutting_down)
    if not requested.is_set():
        log.critical("the worker stopped without a shutdown request; exiting for a restart")
        raise SystemExit(EXIT_UNEXPECTED)
