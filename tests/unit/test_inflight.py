"""What the agent is doing now: the running counters and the forget-on-read marks the watcher
asks before it reports an event (no Docker)."""

from __future__ import annotations

import pytest

from workers.inflight import Inflight

UUID = "0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
DOCKER_ID = "d" * 64


def test_a_start_counts_as_running_only_while_it_runs() -> None:
    inflight = Inflight()
    assert not inflight.being_started(UUID)
    with inflight.starting(UUID):
        assert inflight.being_started(UUID)
        assert not inflight.winding_down(UUID)
    assert not inflight.being_started(UUID)


def test_a_wind_down_still_runs_until_the_last_of_two_deliveries_ends() -> None:
    inflight = Inflight()
    with inflight.stopping(UUID):
        with inflight.stopping(UUID):
            assert inflight.winding_down(UUID)
        assert inflight.winding_down(UUID)
    assert not inflight.winding_down(UUID)


def test_an_operation_that_raises_no_longer_counts_as_running() -> None:
    inflight = Inflight()
    with pytest.raises(RuntimeError), inflight.stopping(UUID):
        raise RuntimeError("Docker said no")
    assert not inflight.winding_down(UUID)


def test_a_stop_is_remembered_until_the_watcher_asks_once() -> None:
    inflight = Inflight()
    with inflight.stopping(UUID):
        pass
    assert inflight.stopped_by_agent(UUID)
    assert not inflight.stopped_by_agent(UUID)


def test_a_start_forgets_that_the_agent_stopped_the_container() -> None:
    inflight = Inflight()
    with inflight.stopping(UUID):
        pass
    with inflight.starting(UUID):
        pass
    assert not inflight.stopped_by_agent(UUID)


def test_a_removal_of_the_agents_own_is_remembered_until_asked_once() -> None:
    inflight = Inflight()
    assert not inflight.removed_by_agent(DOCKER_ID)
    inflight.removing(DOCKER_ID)
    assert inflight.removed_by_agent(DOCKER_ID)
    assert not inflight.removed_by_agent(DOCKER_ID)
