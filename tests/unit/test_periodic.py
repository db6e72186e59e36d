"""The periodic thread behind the heartbeat, the relist and the lease sweeper: it ticks on time,
stops at once, survives a failing tick and honours its first delay (short real waits only)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from controlplane.core.periodic import Periodic

log = logging.getLogger("tests.periodic")
# Long enough that a test passing within it proves a wait was cut short, not waited out.
LONG = 30.0
# How long a test waits for something the thread should do at once.
SOON = 5.0


class Ticks:
    """A tick that counts its calls, raises on the ones listed in `failing`, and lets a test
    wait for the n-th call."""

    def __init__(self, *, failing: tuple[int, ...] = ()) -> None:
        self.count = 0
        self.times: list[float] = []
        self.failing = failing
        self._changed = threading.Condition()

    def __call__(self) -> None:
        with self._changed:
            self.count += 1
            self.times.append(time.monotonic())
            self._changed.notify_all()
            if self.count in self.failing:
                raise RuntimeError(f"tick {self.count} broke")

    def wait_for(self, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.count >= count, timeout=SOON)


@pytest.fixture
def running() -> Iterator[list[Periodic]]:
    """Periodic threads a test started, stopped at its end even if it failed."""
    started: list[Periodic] = []
    yield started
    for periodic in started:
        periodic.stop()


def start(running: list[Periodic], periodic: Periodic) -> Periodic:
    running.append(periodic)
    periodic.start()
    return periodic


def test_without_a_first_delay_it_ticks_at_once_and_then_every_interval(
    running: list[Periodic],
) -> None:
    ticks = Ticks()
    begun = time.monotonic()
    start(running, Periodic("test", 0.01, ticks, log=log))
    assert ticks.wait_for(3)
    assert ticks.times[0] - begun < SOON


def test_stop_ends_the_wait_at_once_and_no_tick_follows(running: list[Periodic]) -> None:
    ticks = Ticks()
    periodic = start(running, Periodic("test", LONG, ticks, log=log))
    assert ticks.wait_for(1)
    begun = time.monotonic()
    periodic.stop()
    assert time.monotonic() - begun < SOON
    time.sleep(0.05)
    assert ticks.count == 1


def test_a_failing_tick_is_logged_and_the_loop_goes_on(
    running: list[Periodic], caplog: pytest.LogCaptureFixture
) -> None:
    ticks = Ticks(failing=(1,))
    with caplog.at_level(logging.WARNING, logger=log.name):
        start(running, Periodic("test-thread", 0.01, ticks, log=log, what="test job"))
        assert ticks.wait_for(2)
    failures = [r for r in caplog.records if r.name == log.name]
    assert [r.getMessage() for r in failures] == [
        "test job failed, retrying in 0.01 s: tick 1 broke"
    ]
    assert failures[0].levelno == logging.WARNING


def test_the_log_names_the_thread_unless_told_what_it_does(
    running: list[Periodic], caplog: pytest.LogCaptureFixture
) -> None:
    ticks = Ticks(failing=(1,))
    with caplog.at_level(logging.WARNING, logger=log.name):
        start(running, Periodic("relist", 0.01, ticks, log=log))
        assert ticks.wait_for(2)
    assert [r.getMessage() for r in caplog.records if r.name == log.name] == [
        "relist failed, retrying in 0.01 s: tick 1 broke"
    ]


def test_the_thread_is_a_daemon_named_as_asked(running: list[Periodic]) -> None:
    seen: list[threading.Thread] = []
    done = threading.Event()

    def tick() -> None:
        seen.append(threading.current_thread())
        done.set()

    start(running, Periodic("heartbeat", LONG, tick, log=log))
    assert done.wait(SOON)
    assert (seen[0].name, seen[0].daemon) == ("heartbeat", True)


def test_the_first_tick_waits_for_the_first_delay(running: list[Periodic]) -> None:
    ticks = Ticks()
    begun = time.monotonic()
    start(running, Periodic("test", 0.01, ticks, log=log, first_delay=0.1))
    assert ticks.wait_for(1)
    assert ticks.times[0] - begun >= 0.1


def test_a_stop_during_the_first_delay_is_prompt_and_never_ticks(running: list[Periodic]) -> None:
    ticks = Ticks()
    periodic = start(running, Periodic("test", LONG, ticks, log=log, first_delay=LONG))
    begun = time.monotonic()
    periodic.stop()
    assert time.monotonic() - begun < SOON
    assert ticks.count == 0
