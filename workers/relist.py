"""The relist: at start and then every `interval` seconds the agent lists every container that
carries its node label and sends the whole picture to the reporter in one message.

Events can be lost (the watcher was disconnected, the agent was down or killed mid-operation,
the broker redelivers only after its visibility timeout), so the relist is what repairs drift:
the reporter compares the picture with its records and fixes both sides (see
`controlplane.reporter.reconcile`). A failed relist is logged and tried again at the next interval.
"""

from __future__ import annotations

import logging
import time

from controlplane.core.periodic import Periodic
from workers.engine import Engine
from workers.reports import Reports

log = logging.getLogger(__name__)


class Relist(Periodic):
    def __init__(self, driver: Engine, reports: Reports, *, interval: float) -> None:
        super().__init__("relist", interval, self.relist, log=log)
        self.driver = driver
        self.reports = reports

    def relist(self) -> None:
        # Stamped before listing: a record observed after this may hold a container the listing
        # missed, and the reporter must not take its absence for a removal.
        observed_ns = time.time_ns()
        self.reports.picture(self.driver.node_picture(), observed_ns=observed_ns)
