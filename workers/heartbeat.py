"""Node registration and heartbeat: the agent tells the control plane it is alive and what its
Docker host offers, at start and then every `interval` seconds.

The heartbeat runs in a daemon thread of the agent process, independent of the task pool, so a
pool busy with long stops still heartbeats. A failed beat (broker or Docker down) is logged and
retried at the next interval; it never stops the agent.
"""

from __future__ import annotations

import logging

from controlplane.core.periodic import Periodic
from workers.engine import Engine
from workers.reports import Reports

log = logging.getLogger(__name__)


class Heartbeat(Periodic):
    def __init__(self, driver: Engine, reports: Reports, *, interval: float) -> None:
        super().__init__("heartbeat", interval, self.beat, log=log)
        self.driver = driver
        self.reports = reports

    def beat(self) -> None:
        self.reports.node(self.driver.facts())
