"""A worker that stops by itself is started again; one that exits by itself makes the process
fail, for its supervisor to restart; one that was asked to stop ends the run. Celery's
`worker_main` returns normally in the first and the last case alike."""

from __future__ import annotations

import pytest
from celery.utils.dispatch import Signal

from controlplane.core.shutdown import EXIT_UNEXPECTED, run_worker


def test_a_worker_that_stops_by_itself_is_started_again_until_asked_to_stop() -> None:
    signal = Signal(name="worker_shutting_down")
    runs = []

    def worker() -> None:
        runs.append(len(runs))
        if len(runs) == 3:
            signal.send(sender="agent@host", sig="SIGTERM", how="Warm", exitcode=0)

    run_worker(worker, signal, pause=0)
    assert runs == [0, 1, 2]


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

    def worker() -> None:
        raise SystemExit(70)

    with pytest.raises(SystemExit):
        run_worker(worker, signal)
    assert not signal.receivers
