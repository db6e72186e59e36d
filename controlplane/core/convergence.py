"""What a service must do next to become what its owner asked: the pure planner.

`plan` looks at one snapshot of a service (its goal, the operation under way, its target) and
of its containers, and answers with the container actions to take now and whether the
operation is over. The caller (`controlplane.servicecontrol`) runs it again after every change
of one of the service's containers, so a multi-step operation (a sequential deployment, a
rolling redeploy) advances one observed step at a time, and a plan never waits on anything.

Rules, documented for users in docs/api.md (services):

- Containers are numbered; a service keeps the lowest numbers, so a scale down terminates the
  highest ones and a scale up takes the lowest free numbers.
- A container on an Unreachable node is left alone and still counts: a lost node never causes
  duplicates, and an operation does not wait for it (a redeploy skips it).
- `sequential_deployment` starts (and creates) one container at a time, the next once the one
  before it has settled; otherwise all at once.
- A redeploy always replaces one container at a time, lowest number first, the next once the
  one before it is Running again, so the service keeps serving.
- Outside an operation, a container that stopped on its own is redeployed when `autoreplace`
  says so (ALWAYS, or ON_FAILURE for a non-zero exit), and a missing container (terminated on
  its own) is replaced only when `autoreplace` is on.
- A container action that fails during an operation ends the operation as failed; the
  controller does not retry it by itself (the owner's next start, scale or redeploy does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from controlplane.core.lifecycle import TRANSITIONAL_STATES, State
from controlplane.core.servicestate import Goal, Operation

# The autoreplace and autorestart choices.
OFF, ON_FAILURE, ALWAYS = "OFF", "ON_FAILURE", "ALWAYS"
# The states a controller-issued terminate is accepted from (lifecycle's).
_TERMINABLE = frozenset({State.INIT, State.RUNNING, State.STOPPED})


@dataclass(frozen=True)
class Member:
    """One container of the service, as the planner needs it."""

    uuid: str
    index: int
    state: State
    generation: int
    reachable: bool = True
    stopped_on_its_own: bool = False
    exit_code: int | None = None
    # Its latest action was taken for the operation under way, and whether that action failed.
    acted: bool = False
    failed: bool = False


@dataclass(frozen=True)
class Target:
    """The service, as the planner needs it."""

    goal: Goal
    operation: Operation
    target: int
    generation: int
    sequential: bool = False
    autoreplace: str = OFF


@dataclass
class Plan:
    create: list[int] = field(default_factory=list)  # numbers of new containers, started at once
    start: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    terminate: list[str] = field(default_factory=list)
    redeploy: list[str] = field(default_factory=list)
    done: bool = False
    failure: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.create or self.start or self.stop or self.terminate or self.redeploy)


def plan(service: Target, members: Sequence[Member]) -> Plan:
    """The next step for `service` given its containers (Terminated ones may be included)."""
    live = sorted((m for m in members if m.state is not State.TERMINATED), key=lambda m: m.index)
    failed = [m for m in live if m.failed]
    if failed and service.operation is not Operation.NONE:
        return Plan(failure=f"container {describe(failed[0])} failed its action")
    if service.goal is Goal.TERMINATED:
        return Plan(
            terminate=[m.uuid for m in live if m.reachable and m.state in _TERMINABLE],
            done=not live,
        )
    if service.goal is Goal.STOPPED:
        active = [m for m in live if m.reachable and m.state is not State.STOPPED]
        return Plan(
            stop=[m.uuid for m in active if m.state is State.RUNNING],
            done=not [m for m in active if m.state is not State.INIT],
        )
    if service.goal is Goal.INIT:
        return Plan(done=True)
    return _running(service, live)


def describe(member: Member) -> str:
    return f"#{member.index} ({member.uuid})"


def _running(service: Target, live: list[Member]) -> Plan:
    kept, extra = live[: service.target], live[service.target :]
    result = Plan(terminate=[m.uuid for m in extra if m.reachable and m.state in _TERMINABLE])
    reachable = [m for m in kept if m.reachable]
    busy = any(m.state in TRANSITIONAL_STATES for m in reachable)
    if service.operation is Operation.REDEPLOYING:
        _redeploy_next(service, reachable, busy, result)
        result.done = not extra and not busy and _all_current(service, reachable)
        return result
    to_start = [m for m in reachable if _wants_start(service, m)]
    missing = _free_numbers(live, service.target - len(kept)) if _replaces(service) else []
    if service.operation is Operation.NONE:
        result.redeploy = [m.uuid for m in reachable if _replaceable(service, m)]
    if service.sequential:
        _one_at_a_time(to_start, missing, busy, result)
    else:
        result.start = [m.uuid for m in to_start]
        result.create = missing
    result.done = not extra and not busy and not to_start and not missing
    return result


def _wants_start(service: Target, member: Member) -> bool:
    """Init containers always start while the service should run; a Stopped one starts once
    during a start or a scale (one that ran and stopped again has settled)."""
    if member.state is State.INIT:
        return True
    return (
        member.state is State.STOPPED
        and service.operation is not Operation.NONE
        and not member.acted
    )


def _replaces(service: Target) -> bool:
    """Whether missing containers are made: during an operation, or by autoreplace."""
    return service.operation is not Operation.NONE or service.autoreplace != OFF


def _replaceable(service: Target, member: Member) -> bool:
    """A container that stopped on its own and that autoreplace says to redeploy."""
    if member.state is not State.STOPPED or not member.stopped_on_its_own:
        return False
    if service.autoreplace == ALWAYS:
        return True
    return service.autoreplace == ON_FAILURE and member.exit_code not in (None, 0)


def _one_at_a_time(to_start: list[Member], missing: list[int], busy: bool, result: Plan) -> None:
    if busy:
        return
    if to_start:
        result.start = [to_start[0].uuid]
    elif missing:
        result.create = missing[:1]


def _redeploy_next(service: Target, reachable: list[Member], busy: bool, result: Plan) -> None:
    if busy:
        return
    # An Init container has no Docker container to replace: starting it makes its first one.
    stale = [m for m in reachable if m.generation < service.generation or m.state is State.INIT]
    if stale:
        step = result.start if stale[0].state is State.INIT else result.redeploy
        step.append(stale[0].uuid)


def _all_current(service: Target, reachable: list[Member]) -> bool:
    return all(m.generation >= service.generation and m.state is not State.INIT for m in reachable)


def _free_numbers(live: list[Member], count: int) -> list[int]:
    """The `count` lowest container numbers (from 1) that no live container holds."""
    taken = {m.index for m in live}
    numbers: list[int] = []
    candidate = 1
    while len(numbers) < count:
        if candidate not in taken:
            numbers.append(candidate)
        candidate += 1
    return numbers
