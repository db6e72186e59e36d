"""A worker that stops by itself exits with a failure, so a supervisor restarts it; one that was
asked to stop exits cleanly. Celery's `worker_main` returns normally either way."""

from __future__ import annotations

import pytest
from celery.utils.dispatch import Signal

from controlplane.core.shutdown import EXIT_UNEXPECTED, run_worker


def test_a_worker_that_stops_by_itself_exits_with_a_failure() -> None:
    signal = Signal(name="worker_shutting_down")
    with pytest.raises(SystemExit) as exited:
        run_worker(lambda: None, signal)
    assert exited.value.code == EXIT_UNEXPECTED


def test_a_worker_asked_to_stop_returns() -> None:
    signal = Signal(name="worker_shutting_down")

    def worker() -> None:
        signal.send(sender="agent@host", sig="SIGTERM", how="Warm", exitcode=0)

    run_worker(worker, signal)


def test_a_clean_system_exit_without_a_request_is_a_failure_too() -> None:
    signal = Signal(name="worker_shutting_down")

    def worker() -> None:
        raise SystemExit(0)

    with pytest.raises(SystemExit) as exited:
        run_worker(worker, signal)
    assert exited.value.code == EXIT_UNEXPECTED


def test_a_failing_exit_status_is_kept() -> None:
    signal = Signal(name="worker_shutting_down")

    def worker() -> None:
        raise SystemExit(70)

    with pytest.raises(SystemExit) as exited:
        run_worker(worker, signal)
    assert exited.value.code == 70


def test_the_receiver_is_disconnected_after_the_run() -> None:
    signal = Signal(name="worker_shutting_down")
    with pytest.raises(SystemExit):
        run_worker(lambda: None, signal)
    assert not signal.receivers
