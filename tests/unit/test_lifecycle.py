"""The container state machine, checked against a transition table written out by hand."""

from __future__ import annotations

import itertools

import pytest

from controlplane.core import lifecycle
from controlplane.core.lifecycle import (
    STABLE_STATES,
    TRANSITIONAL_STATES,
    Action,
    ActionState,
    State,
)

# The spec (tutum-api.md §8.3): start from Init or Stopped, stop from Running, terminate from
# any stable state that still has a container, redeploy from Running or Stopped (not Init: there
# is no container to replace yet). Everything else is refused.
ALLOWED: frozenset[tuple[State, Action]] = frozenset(
    {
        (State.INIT, Action.START),
        (State.STOPPED, Action.START),
        (State.RUNNING, Action.STOP),
        (State.INIT, Action.TERMINATE),
        (State.RUNNING, Action.TERMINATE),
        (State.STOPPED, Action.TERMINATE),
        (State.RUNNING, Action.REDEPLOY),
        (State.STOPPED, Action.REDEPLOY),
    }
)

TARGETS = {
    Action.START: State.STARTING,
    Action.STOP: State.STOPPING,
    Action.TERMINATE: State.TERMINATING,
    Action.REDEPLOY: State.STARTING,
}

EVERY_PAIR = list(itertools.product(State, Action))


@pytest.mark.parametrize(("state", "action"), EVERY_PAIR, ids=[f"{s}-{a}" for s, a in EVERY_PAIR])
def test_an_action_is_allowed_exactly_where_the_table_says(state: State, action: Action) -> None:
    assert lifecycle.is_allowed(state, action) is ((state, action) in ALLOWED)


@pytest.mark.parametrize("state", list(State), ids=str)
def test_allowed_actions_of_a_state_are_the_rows_of_the_table(state: State) -> None:
    expected = {action for (s, action) in ALLOWED if s is state}
    assert lifecycle.allowed_actions(state) == expected


@pytest.mark.parametrize("state", sorted(TRANSITIONAL_STATES | {State.TERMINATED}), ids=str)
def test_transitional_and_final_states_accept_no_action(state: State) -> None:
    assert lifecycle.allowed_actions(state) == frozenset()


@pytest.mark.parametrize(("action", "target"), list(TARGETS.items()), ids=str)
def test_an_accepted_action_moves_the_container_to_its_transitional_state(
    action: Action, target: State
) -> None:
    assert lifecycle.target_state(action) is target
    assert target in TRANSITIONAL_STATES


def test_every_action_has_a_target_state() -> None:
    assert set(TARGETS) == set(Action)


def test_stable_and_transitional_states_split_the_states_in_two() -> None:
    assert STABLE_STATES | TRANSITIONAL_STATES == frozenset(State)
    assert not STABLE_STATES & TRANSITIONAL_STATES
    assert STABLE_STATES == {State.INIT, State.RUNNING, State.STOPPED, State.TERMINATED}


def test_states_are_spelled_as_the_tutum_seed_spells_them() -> None:
    assert [s.value for s in State] == [
        "Init",
        "Starting",
        "Running",
        "Stopping",
        "Stopped",
        "Terminating",
        "Terminated",
    ]
    assert [a.value for a in ActionState] == [
        "Pending",
        "In progress",
        "Canceling",
        "Canceled",
        "Success",
        "Failed",
    ]


# --- report ordering -------------------------------------------------------------------------

LIVE_STATES = sorted(frozenset(State) - {State.TERMINATED})
REPORTABLE = sorted(STABLE_STATES)


@pytest.mark.parametrize("reported", REPORTABLE, ids=str)
def test_the_first_report_for_a_container_is_accepted(reported: State) -> None:
    assert lifecycle.accepts_report(
        current=State.INIT, last_observed_ns=None, reported=reported, observed_ns=1
    )


@pytest.mark.parametrize("current", LIVE_STATES, ids=str)
def test_a_newer_report_is_accepted(current: State) -> None:
    assert lifecycle.accepts_report(
        current=current, last_observed_ns=1_000, reported=State.RUNNING, observed_ns=1_001
    )


def test_an_older_report_is_refused() -> None:
    assert not lifecycle.accepts_report(
        current=State.STOPPED, last_observed_ns=2_000, reported=State.RUNNING, observed_ns=1_999
    )


def test_a_duplicate_report_with_the_same_nanosecond_is_refused() -> None:
    assert not lifecycle.accepts_report(
        current=State.RUNNING, last_observed_ns=2_000, reported=State.RUNNING, observed_ns=2_000
    )


@pytest.mark.parametrize("reported", sorted(TRANSITIONAL_STATES), ids=str)
@pytest.mark.parametrize("last_observed_ns", [None, 1], ids=["first", "newer"])
def test_a_report_of_a_transitional_state_is_refused(
    reported: State, last_observed_ns: int | None
) -> None:
    assert not lifecycle.accepts_report(
        current=State.INIT,
        last_observed_ns=last_observed_ns,
        reported=reported,
        observed_ns=2,
    )


@pytest.mark.parametrize("reported", list(State), ids=str)
@pytest.mark.parametrize("last_observed_ns", [None, 1], ids=["never-observed", "observed"])
def test_nothing_is_accepted_once_terminated(reported: State, last_observed_ns: int | None) -> None:
    assert not lifecycle.accepts_report(
        current=State.TERMINATED,
        last_observed_ns=last_observed_ns,
        reported=reported,
        observed_ns=10**18,
    )
