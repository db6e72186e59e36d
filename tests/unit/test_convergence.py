"""The service planner: what a service does next for each goal, operation and container mix."""

from __future__ import annotations

from controlplane.core.convergence import ALWAYS, ON_FAILURE, Member, Target, plan
from controlplane.core.lifecycle import State
from controlplane.core.servicestate import Goal, Operation


def member(index: int, state: State, generation: int = 1, **extra: object) -> Member:
    return Member(uuid=f"c{index}", index=index, state=state, generation=generation, **extra)  # type: ignore[arg-type]


def target(
    count: int,
    goal: Goal = Goal.RUNNING,
    operation: Operation = Operation.SCALING,
    **extra: object,
) -> Target:
    return Target(goal=goal, operation=operation, target=count, generation=1, **extra)  # type: ignore[arg-type]


def test_a_start_from_nothing_creates_every_container_at_once() -> None:
    step = plan(target(3, operation=Operation.STARTING), [])
    assert step.create == [1, 2, 3]
    assert not step.done


def test_a_sequential_start_creates_one_at_a_time() -> None:
    service = target(3, operation=Operation.STARTING, sequential=True)
    assert plan(service, []).create == [1]
    assert plan(service, [member(1, State.STARTING)]).empty
    assert plan(service, [member(1, State.RUNNING)]).create == [2]


def test_a_scale_up_takes_the_lowest_free_numbers() -> None:
    step = plan(target(4), [member(1, State.RUNNING), member(3, State.RUNNING)])
    assert step.create == [2, 4]


def test_a_scale_down_terminates_the_highest_numbers() -> None:
    members = [member(i, State.RUNNING) for i in (1, 2, 3, 4)]
    step = plan(target(2), members)
    assert step.terminate == ["c3", "c4"]
    assert not step.done


def test_a_scale_is_done_once_every_kept_container_runs_and_the_rest_are_gone() -> None:
    members = [member(1, State.RUNNING), member(2, State.RUNNING), member(3, State.TERMINATED)]
    assert plan(target(2), members).done
    assert not plan(target(2), [member(1, State.RUNNING), member(2, State.STARTING)]).done


def test_a_container_on_a_lost_node_counts_and_is_left_alone() -> None:
    members = [member(1, State.RUNNING, reachable=False), member(2, State.RUNNING)]
    step = plan(target(2), members)
    assert step.empty and step.done
    assert plan(target(1), members).terminate == ["c2"]
    assert plan(target(0), members).terminate == ["c2"]


def test_a_redeploy_replaces_one_container_at_a_time_lowest_first() -> None:
    service = Target(Goal.RUNNING, Operation.REDEPLOYING, target=3, generation=2)
    members = [member(i, State.RUNNING, generation=1) for i in (1, 2, 3)]
    assert plan(service, members).redeploy == ["c1"]
    busy = [member(1, State.STARTING, generation=2), *members[1:]]
    assert plan(service, busy).empty
    half = [member(1, State.RUNNING, generation=2), *members[1:]]
    assert plan(service, half).redeploy == ["c2"]
    current = [member(i, State.RUNNING, generation=2) for i in (1, 2, 3)]
    assert plan(service, current).done


def test_a_redeploy_starts_a_container_that_never_ran() -> None:
    service = Target(Goal.RUNNING, Operation.REDEPLOYING, target=1, generation=2)
    assert plan(service, [member(1, State.INIT, generation=1)]).start == ["c1"]


def test_a_failed_container_action_fails_the_operation() -> None:
    members = [member(1, State.INIT, acted=True, failed=True)]
    step = plan(target(1, operation=Operation.STARTING), members)
    assert step.failure is not None and "c1" in step.failure
    assert step.empty


def test_outside_an_operation_a_stopped_container_is_left_unless_autoreplace() -> None:
    stopped = [member(1, State.STOPPED, stopped_on_its_own=True, exit_code=1)]
    assert plan(target(1, operation=Operation.NONE), stopped).empty
    assert plan(target(1, operation=Operation.NONE, autoreplace=ON_FAILURE), stopped).redeploy == [
        "c1"
    ]
    clean = [member(1, State.STOPPED, stopped_on_its_own=True, exit_code=0)]
    assert plan(target(1, operation=Operation.NONE, autoreplace=ON_FAILURE), clean).empty
    assert plan(target(1, operation=Operation.NONE, autoreplace=ALWAYS), clean).redeploy == ["c1"]
    by_hand = [member(1, State.STOPPED, exit_code=0)]
    assert plan(target(1, operation=Operation.NONE, autoreplace=ALWAYS), by_hand).empty


def test_a_missing_container_is_replaced_outside_an_operation_only_with_autoreplace() -> None:
    assert plan(target(2, operation=Operation.NONE), [member(1, State.RUNNING)]).empty
    replaced = plan(
        target(2, operation=Operation.NONE, autoreplace=ALWAYS), [member(1, State.RUNNING)]
    )
    assert replaced.create == [2]


def test_a_start_starts_stopped_containers_once() -> None:
    service = target(2, operation=Operation.STARTING)
    members = [member(1, State.STOPPED), member(2, State.RUNNING)]
    assert plan(service, members).start == ["c1"]
    ran_and_stopped = [member(1, State.STOPPED, acted=True), member(2, State.RUNNING)]
    step = plan(service, ran_and_stopped)
    assert step.empty and step.done


def test_a_stop_stops_every_running_container() -> None:
    service = target(3, goal=Goal.STOPPED, operation=Operation.NONE)
    members = [member(1, State.RUNNING), member(2, State.STOPPED), member(3, State.STARTING)]
    step = plan(service, members)
    assert step.stop == ["c1"]
    assert not step.done
    assert plan(service, [member(1, State.STOPPED), member(2, State.STOPPED)]).done


def test_a_terminate_terminates_every_container_it_can_and_waits_for_the_rest() -> None:
    service = target(3, goal=Goal.TERMINATED, operation=Operation.NONE)
    members = [member(1, State.RUNNING), member(2, State.STOPPING), member(3, State.INIT)]
    step = plan(service, members)
    assert step.terminate == ["c1", "c3"]
    assert not step.done
    assert plan(service, [member(1, State.TERMINATED)]).done
