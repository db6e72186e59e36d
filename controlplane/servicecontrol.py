"""The service controller: makes a service's containers what the service asks for.

Both the API (after an owner's start, stop, scale, redeploy, terminate) and the reporter (after
every applied report about one of a service's containers, and on a timer) call `converge`. It
locks the service row, reads one snapshot of its containers, asks the pure planner
(`controlplane.core.convergence`) for the next step, and stages that step as ordinary container
actions (the same conditional transitions and Actions a client's request makes) in the same
transaction; after the commit the operations go to the nodes, exactly as
`controlplane.operations` sends a client's. So two controllers never plan one service at once,
a crash between commit and dispatch leaves only actions the stuck-action sweep already handles,
and a service is never more than one observed step ahead of its containers.

The controller writes what services want (their containers' definitions, which
`controlplane.servicedefinition` makes, new containers, accepted actions); what containers are
stays the reporter's alone.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from controlplane import events
from controlplane.core import convergence, policy
from controlplane.core.errors import (
    BrokerUnavailableError,
    ControlPlaneError,
    InvalidInputError,
    NoNodeAvailableError,
    ObjectTransitionRefusedError,
    ServiceNotFoundError,
)
from controlplane.core.lifecycle import OPEN_ACTION_STATES, Action, ActionState, NodeState, State
from controlplane.core.scheduler import (
    EVERY_NODE,
    PlacementRequest,
    place_service_containers,
    service_target,
)
from controlplane.core.service_validation import validate_service, validate_update
from controlplane.core.servicestate import (
    Goal,
    Operation,
    ServiceAction,
    ServiceState,
    allowed_actions,
)
from controlplane.db import actions, containers, nodes, services
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import Database, utcnow
from controlplane.db.models import ActionRecord, Container, Service, Stack
from controlplane.operations import Operations
from controlplane.servicedefinition import (
    container_fields,
    copy_definition,
    nodes_near_links,
    redefines,
    stored_body,
)

log = logging.getLogger(__name__)

# What the audit trail shows for a step the controller took on its own (an autoreplace).
CONTROLLER_REQUEST = RequestInfo(
    method="POST", path="", user_agent="controlplane service controller", ip="", body=""
)


@dataclass
class Staged:
    """A container action accepted in the controller's transaction, to send after the commit."""

    container: Container
    record: ActionRecord
    rollback: State


@dataclass
class Step:
    staged: list[Staged] = field(default_factory=list)
    events: list[events.Event] = field(default_factory=list)


class ServiceControl:
    def __init__(self, database: Database, operations: Operations) -> None:
        self.database = database
        self.operations = operations
        self.settings = operations.settings

    # --- the owner's requests -----------------------------------------------------------------

    def create(
        self,
        session: Session,
        *,
        owner_id: int,
        body: dict[str, Any],
        request: RequestInfo,
    ) -> tuple[Service, ActionRecord]:
        """Record a new service in Init (not deployed: `start` deploys it), committed.

        Raises:
            InvalidInputError: a field is bad, or a link names no live service of the owner.
            DangerousOptionForbiddenError: an option the operator does not allow.
        """
        values = validate_service(body)
        self.check_definition(session, owner_id, values)
        service = services.add_service(session, owner_id=owner_id, values=values)
        event = events.service_event(service, events.CREATE, ServiceState.INIT.value)
        return service, self.commit_created(session, service, request, event)

    def commit_created(
        self, session: Session, target: Service | Stack, request: RequestInfo, event: events.Event
    ) -> ActionRecord:
        """Record the create Action of a new service or stack, commit, and tell the clients."""
        record = actions.new_object_action(
            session, target=target, operation="create", request=request, state=ActionState.SUCCESS
        )
        session.commit()
        self.operations.publisher.publish([event, events.action_event(record, events.CREATE)])
        return record

    def check_definition(self, session: Session, owner_id: int, values: dict[str, Any]) -> None:
        """The operator's policy, and the links of validated values: each must name, by its
        uuid, a live service of the owner (a stack names its own by name, and translates).

        Raises:
            DangerousOptionForbiddenError: an option the operator does not allow.
            InvalidInputError: a link to no live service of the owner.
        """
        policy.check_allowed(values["definition"], self.settings.allow_dangerous)
        for index, link in enumerate(values["linked_to_service"]):
            try:
                linked = services.get_service(session, owner_id=owner_id, uuid=link["to_service"])
            except ServiceNotFoundError:
                linked = None
            if linked is None or linked.goal == Goal.TERMINATED.value:
                raise InvalidInputError(
                    f"linked_to_service[{index}].to_service",
                    f"there is no live service {link['to_service']}",
                )

    def perform(
        self,
        session: Session,
        *,
        owner_id: int,
        uuid: str,
        action: ServiceAction,
        request: RequestInfo,
        target: int | None = None,
    ) -> tuple[Service, ActionRecord]:
        """Accept `action` on the owner's service and take its first step at once.

        Raises:
            ServiceNotFoundError: no such service for this owner.
            ObjectTransitionRefusedError: the service's state does not allow the action.
            InvalidInputError: a scale without a valid target.
        """
        service = services.get_service(session, owner_id=owner_id, uuid=uuid, lock=True)
        state = services.state_of(service, _states(services.live_containers(session, service.id)))
        if action not in allowed_actions(state):
            raise ObjectTransitionRefusedError(
                action=action.value, kind="service", uuid=uuid, state=state.value
            )
        record = actions.new_object_action(
            session, target=service, operation=action.value, request=request
        )
        _ask(service, action, target)
        service.action_id = record.id
        self._step_and_send(session, service, record)
        return service, record

    def update(
        self, session: Session, *, owner_id: int, uuid: str, body: Any, request: RequestInfo
    ) -> tuple[Service, ActionRecord]:
        """Change the service's definition: the containers made or redeployed after it take
        it, and the service shows `synchronized: false` until a redeploy. A new
        `target_num_containers` is recorded, not acted on: `scale/` acts on it (the CLIs PATCH
        the target, then call `scale/`).

        Raises:
            ServiceNotFoundError, InvalidInputError, DangerousOptionForbiddenError,
            ObjectTransitionRefusedError: the service is terminated or terminating.
        """
        service = services.get_service(session, owner_id=owner_id, uuid=uuid, lock=True)
        if service.goal == Goal.TERMINATED.value:
            raise ObjectTransitionRefusedError(
                action="update", kind="service", uuid=uuid, state="Terminated"
            )
        values = validate_update(stored_body(service), body)
        self.check_definition(session, owner_id, values)
        if values["name"] != service.name:
            raise InvalidInputError("name", "a service cannot be renamed")
        record = actions.new_object_action(
            session, target=service, operation="update", request=request, state=ActionState.SUCCESS
        )
        if redefines(service, values):
            service.synchronized = False
        for key, value in values.items():
            setattr(service, key, value)
        session.commit()
        self.operations.publisher.publish([events.action_event(record, events.CREATE)])
        return service, record

    # --- convergence --------------------------------------------------------------------------

    def converge(self, service_id: int) -> None:
        """Take the next step of one service (the reporter's call, after a change of one of
        its containers). It is planned in a read first: most reports leave the step as it was
        (one of a hundred starting containers Running), and then the service's state is
        announced without the write lock or the service's; a step is planned again under the
        service's lock and taken, in a transaction of its own."""
        with self.database.read_session() as session:
            service = session.get(Service, service_id)
            if service is None:
                return
            plan, members = self._plan(session, service, _loads(session))
            if not self._changes(session, service, plan):
                state = services.state_of(service, _states(members))
                self.operations.publisher.publish(
                    [events.service_event(service, events.UPDATE, state.value)]
                )
                return
        self._converge_locked(service_id)

    def _converge_locked(self, service_id: int) -> None:
        with self.database.session() as session:
            service = services.lock_service(session, service_id)
            if service is None:
                return
            record = actions_record(session, service.action_id)
            self._step_and_send(session, service, record)

    def converge_due(self) -> int:
        """Converge every service with something to do: an operation under way, containers
        still to terminate, or autoreplace to watch. The reporter's timer calls it, so a step
        whose trigger was lost (a broker outage, a reporter restart) is taken a little later.
        Most services due are steady (autoreplace watching, nothing to do): each is planned in
        one read, against one reading of the nodes' loads, and only those with a step to take
        are locked and planned again; the steady ones cost no write and announce nothing."""
        with self.database.read_session() as session:
            due = session.scalars(
                select(Service).where(
                    or_(
                        Service.operation != Operation.NONE.value,
                        Service.destroyed_datetime.is_(None)
                        & (Service.goal == Goal.TERMINATED.value),
                        (Service.goal == Goal.RUNNING.value)
                        & (Service.autoreplace != convergence.OFF),
                        Service.action_id.in_(_open_action_ids()),
                    )
                )
            ).all()
            loads = _loads(session)
            stepping = [
                service.id
                for service in due
                if self._changes(session, service, self._plan(session, service, loads)[0])
            ]
        for service_id in stepping:
            self._converge_locked(service_id)
        return len(stepping)

    def _changes(self, session: Session, service: Service, plan: convergence.Plan) -> bool:
        """Whether taking `plan` would change anything: operations to stage, or an operation
        to end (`_close`)."""
        if not plan.empty:
            return True
        if not plan.done and plan.failure is None:
            return False
        record = actions_record(session, service.action_id)
        goal = Goal(service.goal)
        return (
            service.operation != Operation.NONE.value
            or (record is not None and ActionState(record.state) in OPEN_ACTION_STATES)
            or (goal is Goal.TERMINATED and service.destroyed_datetime is None)
            or (goal is Goal.RUNNING and service.deployed_datetime is None)
        )

    def _step_and_send(
        self, session: Session, service: Service, record: ActionRecord | None
    ) -> None:
        """Take the next step, commit it, then send its operations (a refused one is undone
        by `Operations.dispatch` and retried by a later convergence)."""
        step = self._step(session, service, record)
        session.commit()
        self.operations.publisher.publish(step.events)
        for staged in step.staged:
            try:
                self.operations.dispatch(
                    session, staged.container, staged.record, staged.rollback, True
                )
            except BrokerUnavailableError as exc:
                log.warning(
                    "service %s: could not send %s of container %s: %s",
                    service.uuid,
                    staged.record.operation,
                    staged.container.uuid,
                    exc,
                )

    def _plan(
        self, session: Session, service: Service, loads: Callable[[], list[nodes.NodeLoad]]
    ) -> tuple[convergence.Plan, list[Container]]:
        """The planner's next step for the service, and its live containers it planned from.
        The nodes' loads are read only if the strategy counts nodes (EVERY_NODE)."""
        members = services.live_containers(session, service.id)
        latest = services.latest_actions(session, (m.id for m in members))
        counts_nodes = service.deployment_strategy == EVERY_NODE
        plan = convergence.plan(
            convergence.Target(
                goal=Goal(service.goal),
                operation=Operation(service.operation),
                target=service_target(
                    service.deployment_strategy,
                    service.target_num_containers,
                    service.tags,
                    loads() if counts_nodes else [],
                    held={m.node.uuid for m in members},
                ),
                generation=service.generation,
                sequential=service.sequential_deployment,
                autoreplace=service.autoreplace,
            ),
            [_member(m, latest.get(m.id), service.action_id) for m in members],
        )
        return plan, members

    def _step(self, session: Session, service: Service, record: ActionRecord | None) -> Step:
        loads = _loads(session)
        plan, members = self._plan(session, service, loads)
        step = Step()
        linked = services.linked_services(session, service)
        request = _request_of(record)
        by_uuid = {m.uuid: m for m in members}
        failure = plan.failure
        try:
            created = self._create(session, service, plan.create, members, linked, loads, request)
        except ControlPlaneError as exc:
            created = []
            failure = failure or exc.message
        for container in created:
            step.events.append(events.container_event(container, events.CREATE))
        for action, uuids in (
            (Action.START, plan.start),
            (Action.STOP, plan.stop),
            (Action.TERMINATE, plan.terminate),
            (Action.REDEPLOY, plan.redeploy),
        ):
            targets = [by_uuid[uuid] for uuid in uuids]
            if action is Action.START:
                targets += created
            self._stage(session, service, step, request, action, targets, linked)
        closed = self._close(session, service, record, plan.done and not failure, failure)
        if closed is not None:
            step.events.append(events.action_event(closed, events.UPDATE))
            stack_closed = close_stack_action(session, service.stack)
            if stack_closed is not None:
                step.events.append(events.action_event(stack_closed, events.UPDATE))
        # The members and the new containers hold what the staged actions made of them, as the
        # container events above say: no second read of what this step just wrote.
        state = services.state_of(service, _states([*members, *created]))
        step.events.append(events.service_event(service, events.UPDATE, state.value))
        return step

    def _create(
        self,
        session: Session,
        service: Service,
        numbers: list[int],
        members: list[Container],
        linked: list[tuple[str, Service]],
        loads: Callable[[], list[nodes.NodeLoad]],
        request: RequestInfo,
    ) -> list[Container]:
        """New containers in Init with the given numbers, placed by the service's strategy
        among the nodes' `loads` (as the plan saw them) and limited by the owner's quota."""
        if not numbers:
            return []
        room = self.settings.max_containers_per_user - containers.count_live_of_owner(
            session, owner_id=service.owner_id
        )
        if room <= 0:
            raise InvalidInputError(
                "target_num_containers",
                f"the owner holds the most live containers allowed "
                f"({self.settings.max_containers_per_user})",
            )
        held = Counter(m.node.uuid for m in members)
        near = nodes_near_links(session, linked, loads())
        if linked and not near:
            names = ", ".join(target.unique_name for _, target in linked)
            raise NoNodeAvailableError(
                f"no node holds a container of every linked service ({names})"
            )
        placed = place_service_containers(
            near,
            min(len(numbers), room),
            strategy=service.deployment_strategy,
            held=held,
            request=PlacementRequest(tags=frozenset(service.tags)),
        )
        created = []
        for number, node in zip(numbers, placed, strict=False):
            container, _ = containers.add_container(
                session,
                owner_id=service.owner_id,
                node_id=node.id,
                fields=container_fields(service, number, linked),
                request=request,
            )
            created.append(container)
        return created

    def _stage(
        self,
        session: Session,
        service: Service,
        step: Step,
        request: RequestInfo,
        action: Action,
        targets: list[Container],
        linked: list[tuple[str, Service]],
    ) -> None:
        """Accept `action` on each container, skipping one that changed under the plan (a
        report applied meanwhile, a node lost): the next convergence sees it as it is."""
        for container in targets:
            if action is Action.REDEPLOY or container.state == State.INIT.value:
                copy_definition(service, container, linked)
            try:
                staged = containers.stage_action(
                    session,
                    owner_id=service.owner_id,
                    uuid=container.uuid,
                    action=action,
                    request=request,
                )
            except ControlPlaneError as exc:
                log.info(
                    "service %s: %s of container %s skipped: %s",
                    service.uuid,
                    action.value,
                    container.uuid,
                    exc.message,
                )
                continue
            staged_container, record, rollback = staged
            step.staged.append(Staged(staged_container, record, rollback))
            step.events.append(events.container_event(staged_container, events.UPDATE))
            step.events.append(events.action_event(record, events.CREATE))

    def _close(
        self,
        session: Session,
        service: Service,
        record: ActionRecord | None,
        done: bool,
        failure: str | None,
    ) -> ActionRecord | None:
        """End the operation when the plan says it is over; the service's open Action closes
        with it (Success, or Failed with why)."""
        if not done and failure is None:
            return None
        now = utcnow()
        service.operation = Operation.NONE.value
        if done and service.goal == Goal.TERMINATED.value and service.destroyed_datetime is None:
            service.destroyed_datetime = now
        if done and service.goal == Goal.RUNNING.value and service.deployed_datetime is None:
            service.deployed_datetime = now
        if record is None or ActionState(record.state) not in OPEN_ACTION_STATES:
            return None
        if failure is not None:
            log.warning("service %s: %s failed: %s", service.uuid, record.operation, failure)
        return actions.close_action(session, action_uuid=record.uuid, error=failure)


def close_stack_action(session: Session, stack: Stack | None) -> ActionRecord | None:
    """Close a stack's open Action once no service of the stack has an open Action left:
    Failed if one of the services' Actions since it failed. A terminated stack whose services
    are all done is destroyed then."""
    if stack is None or stack.action_id is None:
        return None
    record = session.get(ActionRecord, stack.action_id)
    if record is None or ActionState(record.state) not in OPEN_ACTION_STATES:
        return None
    states = session.scalars(
        select(ActionRecord.state)
        .join(Service, Service.action_id == ActionRecord.id)
        .where(Service.stack_id == stack.id, ActionRecord.id > record.id)
    ).all()
    if any(ActionState(state) in OPEN_ACTION_STATES for state in states):
        return None
    failed = ActionState.FAILED.value in states
    if stack.goal == Goal.TERMINATED.value:
        stack.destroyed_datetime = stack.destroyed_datetime or utcnow()
    error = "a service of the stack failed its action" if failed else None
    return actions.close_action(session, action_uuid=record.uuid, error=error)


def _ask(service: Service, action: ServiceAction, target: int | None) -> None:
    """Record what the owner now asks of the service."""
    now = utcnow()
    if action is ServiceAction.START:
        service.goal, service.operation = Goal.RUNNING.value, Operation.STARTING.value
        service.started_datetime = now
    elif action is ServiceAction.STOP:
        service.goal, service.operation = Goal.STOPPED.value, Operation.NONE.value
        service.stopped_datetime = now
    elif action is ServiceAction.REDEPLOY:
        service.goal, service.operation = Goal.RUNNING.value, Operation.REDEPLOYING.value
        service.generation += 1
        service.synchronized = True
    elif action is ServiceAction.TERMINATE:
        service.goal, service.operation = Goal.TERMINATED.value, Operation.NONE.value
    elif action is ServiceAction.SCALE:
        if target is not None:
            service.target_num_containers = target
        if service.goal == Goal.RUNNING.value:
            service.operation = Operation.SCALING.value


def _member(
    container: Container, latest: services.LatestAction | None, action_id: int | None
) -> convergence.Member:
    acted = latest is not None and action_id is not None and latest.id > action_id
    return convergence.Member(
        uuid=container.uuid,
        index=container.service_index or 0,
        state=State(container.state),
        generation=container.generation,
        reachable=container.node.state == NodeState.DEPLOYED.value,
        stopped_on_its_own=container.state_reason is not None,
        exit_code=container.exit_code,
        acted=acted,
        failed=acted and latest is not None and latest.state == ActionState.FAILED.value,
    )


def _loads(session: Session) -> Callable[[], list[nodes.NodeLoad]]:
    """The nodes' loads, read from `session` the first time they are asked for, if ever."""
    return functools.cache(lambda: nodes.node_loads(session))


def _states(members: list[Container]) -> list[State]:
    return [State(m.state) for m in members]


def _request_of(record: ActionRecord | None) -> RequestInfo:
    if record is None:
        return CONTROLLER_REQUEST
    return RequestInfo(
        method=record.method,
        path=record.path,
        user_agent=record.user_agent,
        ip=record.ip,
        body=record.body,
    )


def actions_record(session: Session, action_id: int | None) -> ActionRecord | None:
    if action_id is None:
        return None
    return session.get(ActionRecord, action_id)


def _open_action_ids() -> Any:
    return select(ActionRecord.id).where(
        ActionRecord.service_id.is_not(None),
        ActionRecord.state.in_([s.value for s in OPEN_ACTION_STATES]),
    )
