"""The service state derived from every mix of container states, and the actions each allows."""

from __future__ import annotations

import itertools

import pytest

from controlplane.core.lifecycle import State
from controlplane.core.servicestate import (
    Goal,
    Operation,
    ServiceAction,
    ServiceState,
    allowed_actions,
    derive_state,
)

R, S, N0, ST, SP, T, X = (
    State.RUNNING,
    State.STOPPED,
    State.INIT,
    State.STARTING,
    State.STOPPING,
    State.TERMINATING,
    State.TERMINATED,
)


@pytest.mark.parametrize(
    ("goal", "operation", "containers", "expected"),
    [
        (Goal.INIT, Operation.NONE, [], ServiceState.INIT),
        (Goal.INIT, Operation.NONE, [N0, N0], ServiceState.INIT),
        (Goal.RUNNING, Operation.STARTING, [N0, N0], ServiceState.STARTING),
        (Goal.RUNNING, Operation.STARTING, [ST, R], ServiceState.STARTING),
        (Goal.RUNNING, Operation.STARTING, [R, R], ServiceState.RUNNING),
        (Goal.RUNNING, Operation.NONE, [R, R, X], ServiceState.RUNNING),
        (Goal.RUNNING, Operation.NONE, [R, S], ServiceState.PARTLY_RUNNING),
        (Goal.RUNNING, Operation.NONE, [S, S], ServiceState.STOPPED),
        (Goal.RUNNING, Operation.NONE, [], ServiceState.NOT_RUNNING),
        (Goal.RUNNING, Operation.NONE, [X, X], ServiceState.NOT_RUNNING),
        (Goal.RUNNING, Operation.NONE, [R, SP], ServiceState.STOPPING),
        (Goal.RUNNING, Operation.NONE, [R, T], ServiceState.SCALING),
        (Goal.RUNNING, Operation.SCALING, [R, N0], ServiceState.SCALING),
        (Goal.RUNNING, Operation.SCALING, [R, R], ServiceState.SCALING),
        (Goal.RUNNING, Operation.REDEPLOYING, [R, ST], ServiceState.REDEPLOYING),
        (Goal.STOPPED, Operation.NONE, [R, SP], ServiceState.STOPPING),
        (Goal.STOPPED, Operation.NONE, [ST, S], ServiceState.STOPPING),
        (Goal.STOPPED, Operation.NONE, [S, S], ServiceState.STOPPED),
        (Goal.STOPPED, Operation.NONE, [S, T], ServiceState.STOPPING),
        (Goal.STOPPED, Operation.NONE, [], ServiceState.STOPPED),
        (Goal.TERMINATED, Operation.NONE, [R, T], ServiceState.TERMINATING),
        (Goal.TERMINATED, Operation.REDEPLOYING, [R], ServiceState.TERMINATING),
        (Goal.TERMINATED, Operation.NONE, [X, X], ServiceState.TERMINATED),
        (Goal.TERMINATED, Operation.NONE, [], ServiceState.TERMINATED),
    ],
)
def test_the_state_is_derived_from_the_goal_and_the_containers(
    goal: Goal, operation: Operation, containers: list[State], expected: ServiceState
) -> None:
    assert derive_state(goal, operation, containers) is expected


@pytest.mark.parametrize("goal", list(Goal))
@pytest.mark.parametrize("operation", list(Operation))
def test_every_mix_of_two_container_states_has_a_state(goal: Goal, operation: Operation) -> None:
    for pair in itertools.product(State, repeat=2):
        state = derive_state(goal, operation, pair)
        assert isinstance(state, ServiceState)
        if goal is Goal.TERMINATED:
            assert state in {ServiceState.TERMINATING, ServiceState.TERMINATED}
        steady = operation in {Operation.NONE, Operation.STARTING}
        if goal is Goal.RUNNING and steady and all(s is State.RUNNING for s in pair):
            assert state is ServiceState.RUNNING
        if goal is Goal.INIT and operation is Operation.NONE:
            assert state is ServiceState.INIT


@pytest.mark.parametrize(
    ("state", "allowed"),
    [
        (ServiceState.INIT, {"start", "terminate", "scale"}),
        (ServiceState.RUNNING, {"stop", "redeploy", "terminate", "scale"}),
        (ServiceState.PARTLY_RUNNING, {"start", "stop", "redeploy", "terminate", "scale"}),
        (ServiceState.STOPPED, {"start", "redeploy", "terminate", "scale"}),
        (ServiceState.NOT_RUNNING, {"terminate", "scale"}),
        (ServiceState.STARTING, set()),
        (ServiceState.SCALING, set()),
        (ServiceState.REDEPLOYING, set()),
        (ServiceState.STOPPING, set()),
        (ServiceState.TERMINATING, set()),
        (ServiceState.TERMINATED, set()),
    ],
)
def test_each_state_allows_the_old_apis_actions(state: ServiceState, allowed: set[str]) -> None:
    assert {action.value for action in allowed_actions(state)} == allowed
    assert all(isinstance(action, ServiceAction) for action in allowed_actions(state))
