"""The relist: at start and then every `interval` seconds the agent lists every container that
carries its node label and sends the whole picture to the reporter in one message.

Events can be lost (the watcher was disconnected, the agent was down or killed mid-operation,
the broker redelivers only after its visibility timeout), so the relist is what repairs drift:
the reporter compares the picture with its records and fixes both sides (see
`controlplane.reporter.reconcile`). A failed relist is logged and tried again at the next interval.
"""

from __future__ import annotations

import logging
import threading
import time

from workers.driver import DockerDriver
from workers.reports import Reports

log = logging.getLogger(__name__)


class Relist:
    def __init__(self, driver: DockerDriver, reports: Reports, *, interval: float) -> None:
        self.driver = driver
        self.reports = reports
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relist", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def relist(self) -> None:
        # Stamped before listing: a record observed after this may hold a container the listing
        # missed, and the reporter must not take its absence for a removal.
        observed_ns = time.time_ns()
        self.reports.picture(self.driver.node_picture(), observed_ns=observed_ns)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.relist()
            except Exception as exc:  # Docker or broker down (kombu has many error classes)
                log.warning("relist failed, retrying in %s s: %s", self.interval, exc)
            self._stop.wait(self.interval)
