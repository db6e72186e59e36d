"""Keeping a Celery worker running until it is asked to stop.

Both Celery workers (the reporter and the node agent) run `Celery.worker_main`, which returns
normally whatever happened: Celery's click command is run with `standalone_mode=False`, so the
worker's own exit code (EX_FAILURE after an error Celery calls unrecoverable, such as kombu
5.7's AttributeError on closing a Redis channel that went away) is dropped, and the process
would exit with status 0, leaving its node dead. So the worker's end is judged here: without a
shutdown request it is started again; a worker that exits (SystemExit) without one makes the
process exit non-zero, for its supervisor to restart.

Stdlib-only: the caller hands in Celery's `worker_shutting_down` signal (sent when SIGTERM,
SIGINT or SIGQUIT reaches the worker), so the agent can share this without importing Celery
through the core.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

# The exit status of a process whose worker exited without being asked to.
EXIT_UNEXPECTED = 1


class ShutdownSignal(Protocol):
    """What is used of a Celery signal (celery.utils.dispatch.Signal)."""

    def connect(self, receiver: Callable[..., Any], *, weak: bool) -> Any: ...

    def disconnect(self, receiver: Callable[..., Any]) -> Any: ...


def run_worker(
    start: Callable[[], object], shutting_down: ShutdownSignal, *, pause: float = 1.0
) -> None:
    """Run a worker until it is asked to stop, starting it again whenever it stops by itself.

    Celery gives up on a lost broker in ways it calls unrecoverable: kombu 5.7's Redis channel,
    closed by Celery 5.7 after a connection error while tasks are unacknowledged, tries to
    restore them with a connection that is already gone and raises AttributeError, which ends
    the worker. Nothing of the process is lost with it (the tasks come back after their
    visibility timeout; the heartbeat, relist and sweeper threads go on), so the worker is
    simply started again, `pause` seconds later, and reconnects like a fresh one.

    Raises:
        SystemExit: with the worker's own failing exit status, or EXIT_UNEXPECTED when it
            exits cleanly without a shutdown request.
    """
    requested = threading.Event()

    def on_shutting_down(**_: Any) -> None:
        requested.set()

    shutting_down.connect(on_shutting_down, weak=False)
    try:
        while True:
            try:
                start()
            except SystemExit as exc:
                if exc.code not in (0, None) or requested.is_set():
                    raise
                log.critical("the worker exited without a shutdown request")
                raise SystemExit(EXIT_UNEXPECTED) from None
            if requested.is_set():
                return
            log.error("the worker stopped by itself; starting it again in %s s", pause)
            time.sleep(pause)
    finally:
        shutting_down.disconnect(on_shutting_down)
