"""The reporter's two ways of converging services, both threads beside its Celery worker.

Every report that changes one of a service's containers asks the **converger** to converge that
service. It does so off the task threads, a moment later (`linger`), once for everything asked
meanwhile: a service of a hundred containers whose Running reports arrive together converges
once, not a hundred times (each convergence reads all its containers and every node's load), and
the threads that apply reports and answer claims never wait on a plan.

The **service sweeper** converges on a timer what no report announces: a node that comes back
after a loss, an operation whose dispatch the broker refused, a reporter that restarted between a
report and its convergence, a request the converger lost with its process. Several reporters may
converge at once: `ServiceControl.converge` locks each service it plans.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from controlplane.core.periodic import Periodic
from controlplane.servicecontrol import ServiceControl

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 2.0


class ServiceSweeper(Periodic):
    def __init__(self, control: ServiceControl, *, interval: float = SWEEP_INTERVAL) -> None:
        super().__init__("service-sweeper", interval, control.converge_due, log=log)


class Converger:
    """Converges the services `request` names, coalesced, in a thread of its own."""

    def __init__(self, control: ServiceControl, *, linger: float = 0.05) -> None:
        self.control = control
        self.linger = linger
        self._asked: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="converger", daemon=True)

    def request(self, service_ids: Iterable[int]) -> None:
        with self._lock:
            self._asked.update(service_ids)
            asked = bool(self._asked)
        if asked:
            self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            if self._stopping.wait(self.linger):
                return
            self._wake.clear()
            with self._lock:
                asked, self._asked = sorted(self._asked), set()
            for service_id in asked:
                self._converge(service_id)

    def _converge(self, service_id: int) -> None:
        """One service; a failure (the database away) is logged, and the sweeper tries again."""
        try:
            self.control.converge(service_id)
        except Exception as exc:  # database or broker trouble; each raises many kinds
            log.warning("converging service %s failed, the sweeper retries: %s", service_id, exc)
