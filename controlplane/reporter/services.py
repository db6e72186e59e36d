"""The service sweeper: a thread of the reporter that converges services on a timer.

Every report about a service's container converges that service at once (`Reporter`); the
timer catches what no report announces: a node that comes back after a loss, an operation whose
dispatch the broker refused, a reporter that restarted between a report and its convergence.
Several reporters may sweep at once: `ServiceControl.converge` locks each service it plans.
"""

from __future__ import annotations

import logging

from controlplane.core.periodic import Periodic
from controlplane.servicecontrol import ServiceControl

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 2.0


class ServiceSweeper(Periodic):
    def __init__(self, control: ServiceControl, *, interval: float = SWEEP_INTERVAL) -> None:
        super().__init__("service-sweeper", interval, control.converge_due, log=log)
