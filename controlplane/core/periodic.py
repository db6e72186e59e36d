"""One stoppable periodic thread: call `tick` every `interval` seconds until stopped.

The agent's heartbeat and relist and the reporter's lease sweeper each run a job on a timer
beside a Celery worker, and share this loop so they share its guarantees: the thread is a daemon
(it never holds a process open), `stop` ends a wait at once instead of at the end of the interval,
and a tick that raises is logged and tried again at the next interval, since the broker, Docker
Engine or database that failed it may be back by then.

Stdlib-only, like the rest of the core.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol


class Background(Protocol):
    """A thread that runs beside a Celery worker, started before it and stopped after it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Periodic:
    """A daemon thread named `name` that calls `tick` after `first_delay` seconds and then every
    `interval` seconds, until `stop`. A failed tick is logged on `log` as "<what> failed,
    retrying in <interval> s: <error>" (`what` defaults to `name`)."""

    def __init__(
        self,
        name: str,
        interval: float,
        tick: Callable[[], object],
        *,
        log: logging.Logger,
        first_delay: float = 0.0,
        what: str | None = None,
    ) -> None:
        self.interval = interval
        self.first_delay = first_delay
        self._tick = tick
        self._log = log
        self._what = what or name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the loop; waits for a tick under way, at most an interval and a second."""
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def _run(self) -> None:
        if self._stop.wait(self.first_delay):
            return
        while True:
            try:
                self._tick()
            except Exception as exc:  # broker, Docker or database down; each raises many kinds
                self._log.warning("%s failed, retrying in %s s: %s", self._what, self.interval, exc)
            if self._stop.wait(self.interval):
                return
