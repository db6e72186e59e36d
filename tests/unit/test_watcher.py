"""Docker events folded into container changes, and the autodestroy decision (no Docker)."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.core.lifecycle import State
from controlplane.core.messages import LABEL_AUTODESTROY, LABEL_CONTAINER_UUID
from workers.docker.observe import OOM_REASON
from workers.watcher import REMOVED_REASON, EventFolder, autodestroys, exit_reason

UUID = "0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
DOCKER_ID = "d" * 64


def event(action: str, time_ns: int = 1_700_000_000_123_456_789, **attributes: str) -> dict:
    labels: dict[str, Any] = {LABEL_CONTAINER_UUID: UUID, LABEL_AUTODESTROY: "ON_SUCCESS"}
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": DOCKER_ID, "Attributes": {**labels, **attributes}},
        "timeNano": time_ns,
    }


def test_a_start_is_running_at_dockers_event_time() -> None:
    change = EventFolder().fold(event("start", 42))
    assert change is not None
    assert change.container_uuid == UUID
    assert change.observation.state is State.RUNNING
    assert change.observation.observed_ns == 42
    assert change.observation.docker_id == DOCKER_ID


def test_a_die_is_stopped_with_its_exit_code_and_the_autodestroy_policy() -> None:
    change = EventFolder().fold(event("die", exitCode="3"))
    assert change is not None
    assert change.observation.state is State.STOPPED
    assert change.observation.exit_code == 3
    assert change.observation.reason is None
    assert change.autodestroy == "ON_SUCCESS"


def test_a_die_by_signal_says_which_signal() -> None:
    change = EventFolder().fold(event("die", exitCode="137"))
    assert change is not None
    assert change.observation.reason == "killed by signal 9"


def test_an_oom_is_not_reported_alone_but_the_die_after_it_keeps_the_reason() -> None:
    folder = EventFolder()
    assert folder.fold(event("oom")) is None
    change = folder.fold(event("die", exitCode="137"))
    assert change is not None
    assert change.observation.reason == OOM_REASON
    later = folder.fold(event("die", exitCode="137"))
    assert later is not None and later.observation.reason == "killed by signal 9"


def test_a_destroy_is_terminated_with_a_reason() -> None:
    change = EventFolder().fold(event("destroy"))
    assert change is not None
    assert change.observation.state is State.TERMINATED
    assert change.observation.reason == REMOVED_REASON


@pytest.mark.parametrize("action", ["create", "kill", "stop", "rename", "exec_start: sh"])
def test_events_that_change_no_state_are_ignored(action: str) -> None:
    assert EventFolder().fold(event(action)) is None


def test_a_container_without_our_label_is_ignored() -> None:
    foreign = event("die", exitCode="0")
    del foreign["Actor"]["Attributes"][LABEL_CONTAINER_UUID]
    assert EventFolder().fold(foreign) is None


@pytest.mark.parametrize(
    ("policy", "exit_code", "removed"),
    [
        ("OFF", 0, False),
        ("OFF", 1, False),
        ("ON_SUCCESS", 0, True),
        ("ON_SUCCESS", 1, False),
        ("ALWAYS", 0, True),
        ("ALWAYS", 137, True),
    ],
)
def test_autodestroy_follows_the_tutum_policies(policy: str, exit_code: int, removed: bool) -> None:
    assert autodestroys(policy, exit_code) is removed


def test_a_plain_exit_code_needs_no_reason() -> None:
    assert exit_reason(1) is None
    assert exit_reason(143) == "killed by signal 15"


def test_a_pause_and_an_unpause_are_a_running_container_frozen_and_thawed() -> None:
    folder = EventFolder()
    paused, unpaused = folder.fold(event("pause", 50)), folder.fold(event("unpause", 60))
    assert paused is not None and unpaused is not None
    assert (paused.observation.state, paused.observation.paused) == (State.RUNNING, True)
    assert (unpaused.observation.state, unpaused.observation.paused) == (State.RUNNING, False)
