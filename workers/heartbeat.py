"""Node registration and heartbeat: the agent tells the control plane it is alive and what its
Docker host offers, at start and then every `interval` seconds.

The heartbeat runs in a daemon thread of the agent process, independent of the task pool, so a
pool busy with long stops still heartbeats. A failed beat (broker or Docker down) is logged and
retried at the next interval; it never stops the agent.
"""

from __future__ import annotations

import logging
import threading

from workers.driver import DockerDriver
from workers.reports import Reports

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, driver: DockerDriver, reports: Reports, *, interval: float) -> None:
        self.driver = driver
        self.reports = reports
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def beat(self) -> None:
        self.reports.node(self.driver.facts())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception as exc:  # Docker or broker down (kombu has many error classes)
                log.warning("heartbeat failed, retrying in %s s: %s", self.interval, exc)
            self._stop.wait(self.interval)
