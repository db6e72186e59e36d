"""The reporter's converger: services asked for together converge once each, off the caller's
thread, and a failed convergence does not stop the next."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, cast

import pytest

from controlplane.reporter.services import Converger
from controlplane.servicecontrol import ServiceControl


class Control:
    """Stands in for ServiceControl: records each convergence; service 13 fails."""

    def __init__(self) -> None:
        self.converged: list[int] = []
        self.threads: set[str] = set()
        self.done = threading.Event()

    def converge(self, service_id: int) -> None:
        self.threads.add(threading.current_thread().name)
        self.converged.append(service_id)
        if service_id == 13:
            raise RuntimeError("database away")
        if service_id == 99:
            self.done.set()


@pytest.fixture
def control() -> Any:
    return Control()


def test_services_asked_for_together_converge_once_each_in_the_converger(
    control: Control, caplog: pytest.LogCaptureFixture
) -> None:
    converger = Converger(cast(ServiceControl, control), linger=0.2)
    converger.start()
    try:
        with caplog.at_level(logging.WARNING, logger="controlplane.reporter.services"):
            for service_id in (2, 13, 1, 2, 2, 1):
                converger.request([service_id])
            converger.request([])
            time.sleep(0.4)
            converger.request([99])
            assert control.done.wait(5)
    finally:
        converger.stop()
    assert control.converged == [1, 2, 13, 99]
    assert control.threads == {"converger"}
    assert "converging service 13 failed" in caplog.text
