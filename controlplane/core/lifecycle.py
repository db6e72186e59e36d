"""The container state machine: states, actions, transitions and report ordering.

Pure and stdlib-only (import-linter enforces it) because both sides use it: the API to accept
or refuse an action, the reporter to decide whether an observation may be applied, and the node
agent to name the states it reports. Nothing here touches a database, a broker or Docker.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Container states, spelled exactly as the Tutum seed spells them on the wire."""

    INIT = "Init"
    STARTING = "Starting"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class Action(StrEnum):
    """What a client may ask of a container."""

    START = "start"
    STOP = "stop"
    TERMINATE = "terminate"
    REDEPLOY = "redeploy"


class ActionState(StrEnum):
    """Action (audit record) states, spelled as Tutum spells them (docs/api.md §3.5).

    An accepted operation is Pending until its node agent claims it, In progress while the agent
    works, then Success or Failed. Only a Pending action can be canceled (it becomes Canceled at
    once, so Canceling is never shown); only a Failed one can be retried.
    """

    PENDING = "Pending"
    IN_PROGRESS = "In progress"
    CANCELING = "Canceling"
    CANCELED = "Canceled"
    SUCCESS = "Success"
    FAILED = "Failed"


OPEN_ACTION_STATES: frozenset[ActionState] = frozenset(
    {ActionState.PENDING, ActionState.IN_PROGRESS, ActionState.CANCELING}
)


STABLE_STATES: frozenset[State] = frozenset(
    {State.INIT, State.RUNNING, State.STOPPED, State.TERMINATED}
)
TRANSITIONAL_STATES: frozenset[State] = frozenset(State) - STABLE_STATES
# States whose container has no Docker counterpart (not made yet, or gone): no logs to read.
NO_DOCKER_CONTAINER: frozenset[State] = frozenset({State.INIT, State.TERMINATED})

# action -> (states it is accepted from, state it moves the container to at once)
#
# A redeploy replaces the Docker container with a fresh one made from the same definition, so it
# needs one to replace: it is accepted from Running and Stopped but not from Init, where `start`
# is the way to make the first container. It passes through Starting, like a start, and the new
# container's Running report ends it.
_TRANSITIONS: dict[Action, tuple[frozenset[State], State]] = {
    Action.START: (frozenset({State.INIT, State.STOPPED}), State.STARTING),
    Action.STOP: (frozenset({State.RUNNING}), State.STOPPING),
    Action.TERMINATE: (frozenset({State.INIT, State.RUNNING, State.STOPPED}), State.TERMINATING),
    Action.REDEPLOY: (frozenset({State.RUNNING, State.STOPPED}), State.STARTING),
}


def allowed_actions(state: State) -> frozenset[Action]:
    """The actions a container in `state` accepts (empty for transitional and final states)."""
    return frozenset(action for action, (sources, _) in _TRANSITIONS.items() if state in sources)


def is_allowed(state: State, action: Action) -> bool:
    """Whether `action` may be accepted while the container is in `state`."""
    return state in _TRANSITIONS[action][0]


def target_state(action: Action) -> State:
    """The transitional state an accepted `action` moves the container to."""
    return _TRANSITIONS[action][1]


def accepts_report(
    *,
    current: State,
    last_observed_ns: int | None,
    reported: State,
    observed_ns: int,
) -> bool:
    """Whether an observation from a node may be applied to a container record.

    Reports travel through a broker that may redeliver or reorder them, so each carries the time
    the node observed the change (Docker's own timestamp where Docker gives one). Only a report
    strictly newer than the last one applied may move the record; an older or duplicate report
    changes nothing. A terminated container is final: nothing brings it back.
    """
    if reported in TRANSITIONAL_STATES or current is State.TERMINATED:
        return False
    return last_observed_ns is None or observed_ns > last_observed_ns


# How far ahead of the reporter's clock an observation may be stamped (node clocks drift, and
# Docker's own times come from the node's clock).
MAX_CLOCK_SKEW_NS = 5 * 1_000_000_000


def clamp_observed(observed_ns: int, now_ns: int) -> int:
    """An observation time at most the allowed skew ahead of `now_ns` (the reporter's clock).
    Reports are ordered by these times (`accepts_report`), so a node whose clock runs an hour
    ahead, or a forged report, would otherwise stamp a record so far in the future that no true
    report could move it for that hour."""
    return min(observed_ns, now_ns + MAX_CLOCK_SKEW_NS)


class NodeState(StrEnum):
    """The node states of docs/api.md §3.6 that this control plane uses."""

    # Enrolled (`controlplane node add`); its agent has not reported yet.
    DEPLOYING = "Deploying"
    # The agent heartbeats: containers may be placed on the node and actions reach it.
    DEPLOYED = "Deployed"
    # No heartbeat within the grace period: nothing is placed on it and actions are refused.
    UNREACHABLE = "Unreachable"


# What a node list's `state` filter takes: the states above, and the old API's others, which no
# node here is ever in (a filter on one lists nothing); anything else is a 400.
NODE_STATE_FILTERS = (*(s.value for s in NodeState), "Upgrading", "Terminating", "Terminated")
