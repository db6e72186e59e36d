"""Service states, derived from what a service is asked to be and what its containers are.

A service stores no state of its own: it stores what its owner asked for (`Goal`: not yet
deployed, running, stopped, terminated), the operation under way (`Operation`: a scale or a
redeploy), and its containers carry their observed states. The old API's eleven service states
are a function of those three, so a service can never claim Running while its containers are
not. Pure and stdlib-only, like `controlplane.core.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from controlplane.core.lifecycle import State


class ServiceState(StrEnum):
    """Spelled exactly as the old API spells them (docs/api.md, services)."""

    INIT = "Init"
    STARTING = "Starting"
    RUNNING = "Running"
    PARTLY_RUNNING = "Partly running"
    SCALING = "Scaling"
    REDEPLOYING = "Redeploying"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"
    NOT_RUNNING = "Not running"


class Goal(StrEnum):
    """What the owner last asked the service to be."""

    INIT = "init"
    RUNNING = "running"
    STOPPED = "stopped"
    TERMINATED = "terminated"


class Operation(StrEnum):
    """A multi-step change under way; the service shows it until it is done."""

    NONE = ""
    # A start: shown through the containers' states (Starting, then Running or Partly running).
    STARTING = "starting"
    SCALING = "scaling"
    REDEPLOYING = "redeploying"


class ServiceAction(StrEnum):
    START = "start"
    STOP = "stop"
    REDEPLOY = "redeploy"
    TERMINATE = "terminate"
    SCALE = "scale"


# The actions each state accepts, as the old API's state table gives them. `scale` (Docker
# Cloud's endpoint, Tutum's PATCH of target_num_containers) is accepted wherever a new target can
# be acted on or kept for the next start.
_ALLOWED: dict[ServiceState, frozenset[ServiceAction]] = {
    ServiceState.INIT: frozenset(
        {ServiceAction.START, ServiceAction.TERMINATE, ServiceAction.SCALE}
    ),
    ServiceState.RUNNING: frozenset(
        {ServiceAction.STOP, ServiceAction.REDEPLOY, ServiceAction.TERMINATE, ServiceAction.SCALE}
    ),
    ServiceState.PARTLY_RUNNING: frozenset(
        {
            ServiceAction.START,
            ServiceAction.STOP,
            ServiceAction.REDEPLOY,
            ServiceAction.TERMINATE,
            ServiceAction.SCALE,
        }
    ),
    ServiceState.STOPPED: frozenset(
        {ServiceAction.START, ServiceAction.REDEPLOY, ServiceAction.TERMINATE, ServiceAction.SCALE}
    ),
    ServiceState.NOT_RUNNING: frozenset({ServiceAction.TERMINATE, ServiceAction.SCALE}),
}


def allowed_actions(state: ServiceState) -> frozenset[ServiceAction]:
    """What a service in `state` accepts; the transitional states accept nothing."""
    return _ALLOWED.get(state, frozenset())


def derive_state(goal: Goal, operation: Operation, containers: Iterable[State]) -> ServiceState:
    """The service state of the old API from the goal, the operation under way and the states
    of the service's containers (Terminated ones included: they say nothing and are skipped).

    A service asked to run whose containers have all stopped on their own shows Stopped, as in
    the old API ("all containers for the service are stopped"); one with no container at all
    (scaled to zero, or every container terminated) shows Not running.
    """
    live = [state for state in containers if state is not State.TERMINATED]
    if goal is Goal.TERMINATED:
        return ServiceState.TERMINATING if live else ServiceState.TERMINATED
    if operation is Operation.REDEPLOYING:
        return ServiceState.REDEPLOYING
    if operation is Operation.SCALING:
        return ServiceState.SCALING
    if goal is Goal.INIT:
        return ServiceState.INIT
    if not live:
        return ServiceState.STOPPED if goal is Goal.STOPPED else ServiceState.NOT_RUNNING
    return _from_containers(goal, live)


def _from_containers(goal: Goal, live: Sequence[State]) -> ServiceState:
    if State.TERMINATING in live:
        return ServiceState.SCALING if goal is Goal.RUNNING else ServiceState.STOPPING
    running = live.count(State.RUNNING)
    if goal is Goal.STOPPED:
        stopping = running or State.STOPPING in live or State.STARTING in live
        return ServiceState.STOPPING if stopping else ServiceState.STOPPED
    if State.STARTING in live or State.INIT in live:
        return ServiceState.STARTING
    if State.STOPPING in live:
        return ServiceState.STOPPING
    if running == len(live):
        return ServiceState.RUNNING
    return ServiceState.PARTLY_RUNNING if running else ServiceState.STOPPED


class StackState(StrEnum):
    """Spelled exactly as the old API spells them (its "Not Running" has a capital R)."""

    NOT_RUNNING = "Not Running"
    STARTING = "Starting"
    RUNNING = "Running"
    PARTLY_RUNNING = "Partly running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    REDEPLOYING = "Redeploying"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


_STACK_ALLOWED: dict[StackState, frozenset[ServiceAction]] = {
    StackState.NOT_RUNNING: frozenset({ServiceAction.START, ServiceAction.TERMINATE}),
    StackState.RUNNING: frozenset(
        {ServiceAction.STOP, ServiceAction.REDEPLOY, ServiceAction.TERMINATE}
    ),
    StackState.PARTLY_RUNNING: frozenset(
        {ServiceAction.START, ServiceAction.STOP, ServiceAction.REDEPLOY, ServiceAction.TERMINATE}
    ),
    StackState.STOPPED: frozenset(
        {ServiceAction.START, ServiceAction.REDEPLOY, ServiceAction.TERMINATE}
    ),
}
# A service state that is on its way somewhere, and the stack state it shows as.
_STACK_BUSY = {
    ServiceState.REDEPLOYING: StackState.REDEPLOYING,
    ServiceState.STARTING: StackState.STARTING,
    ServiceState.SCALING: StackState.STARTING,
    ServiceState.STOPPING: StackState.STOPPING,
    ServiceState.TERMINATING: StackState.TERMINATING,
}


def stack_allowed_actions(state: StackState) -> frozenset[ServiceAction]:
    """The old API's table, with `stop` wherever a service of the stack runs (its stack
    `stop/` endpoint exists although the table forgets it)."""
    return _STACK_ALLOWED.get(state, frozenset())


def derive_stack_state(terminated: bool, services: Iterable[ServiceState]) -> StackState:
    """A stack's state from its services' states (a terminated stack's services included)."""
    states = list(services)
    if terminated:
        done = all(state is ServiceState.TERMINATED for state in states)
        return StackState.TERMINATED if done else StackState.TERMINATING
    for busy, shown in _STACK_BUSY.items():
        if busy in states:
            return shown
    live = [state for state in states if state is not ServiceState.TERMINATED]
    if not live or all(state is ServiceState.INIT for state in live):
        return StackState.NOT_RUNNING
    running = [state for state in live if state is ServiceState.RUNNING]
    if len(running) == len(live):
        return StackState.RUNNING
    if running or ServiceState.PARTLY_RUNNING in live:
        return StackState.PARTLY_RUNNING
    return StackState.STOPPED
