"""Stacks: groups of services made together from one stackfile and acted on together.

A stack's create makes all its services or none (one transaction); its start, stop, redeploy
and terminate act on each of its services through `ServiceControl.perform`, as the owner would
one by one, and its Action stays In progress until every service's own Action has closed
(`ServiceControl` closes it), so `--sync` in the CLIs waits for the whole stack.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import yaml
from sqlalchemy.orm import Session

from controlplane import events
from controlplane.core import checks, stack_bodies, validation
from controlplane.core.errors import (
    ConflictError,
    InvalidInputError,
    ObjectTransitionRefusedError,
)
from controlplane.core.lifecycle import ActionState
from controlplane.core.service_validation import service_body
from controlplane.core.servicestate import (
    Goal,
    ServiceAction,
    StackState,
    allowed_actions,
    stack_allowed_actions,
)
from controlplane.core.stackfile_render import render_stackfile
from controlplane.db import actions, stacks
from controlplane.db import services as service_records
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import utcnow
from controlplane.db.models import ActionRecord, Service, Stack
from controlplane.servicecontrol import ServiceControl
from controlplane.servicedefinition import stored_body

log = logging.getLogger(__name__)


class StackControl:
    def __init__(self, control: ServiceControl) -> None:
        self.control = control

    def create(
        self, session: Session, *, owner_id: int, body: Any, request: RequestInfo
    ) -> tuple[Stack, ActionRecord]:
        """Record a new stack and its services in Init, all at once.

        Raises:
            InvalidInputError: the name, or a service (the error names it and its key).
            DangerousOptionForbiddenError: a service asks for an option not allowed.
        """
        checks.keys("body", body, required={"name"}, optional={"services", "nickname"})
        name = _stack_name(body["name"])
        parsed = stack_bodies.service_values(body.get("services"))
        stack = stacks.add_stack(session, owner_id=owner_id, name=name)
        self._add_services(session, owner_id, stack, parsed)
        event = events.stack_event(stack, events.CREATE, StackState.NOT_RUNNING.value)
        return stack, self.control.commit_created(session, stack, request, event)

    def _add_services(
        self,
        session: Session,
        owner_id: int,
        stack: Stack,
        parsed: list[tuple[str, dict[str, Any]]],
    ) -> list[Service]:
        """The stack's new services; links name services of the stack, made in the same
        transaction, so every service is added before any link is resolved."""
        added = []
        for name, values in parsed:
            values = {**values, "name": name}
            wanted = values["linked_to_service"]
            values["linked_to_service"] = []
            service = service_records.add_service(
                session, owner_id=owner_id, values=values, stack=stack
            )
            added.append((service, wanted))
        uuids = {s.name: s.uuid for s in _live_services(session, stack)}
        for service, wanted in added:
            links = _links_to_uuids(wanted, uuids)
            checked: dict[str, Any] = {"definition": service.definition, "linked_to_service": links}
            try:
                self.control.check_definition(session, owner_id, checked)
            except InvalidInputError as exc:
                raise InvalidInputError(
                    f"services.{service.name}.{exc.field}", exc.problem
                ) from exc
            service.linked_to_service = checked["linked_to_service"]
        return [service for service, _ in added]

    def update(
        self, session: Session, *, owner_id: int, uuid: str, body: Any, request: RequestInfo
    ) -> tuple[Stack, ActionRecord]:
        """Make the stack's services those of `services`: a service of the same name is
        updated (its containers take the change when redeployed), a new one is added (and
        started if the stack runs), and a live one left out is terminated.

        Raises:
            StackNotFoundError, InvalidInputError, DangerousOptionForbiddenError,
            ObjectTransitionRefusedError: the stack is terminated.
        """
        checks.keys("body", body, required={"services"}, optional={"name", "nickname"})
        stack = stacks.get_stack(session, owner_id=owner_id, uuid=uuid, lock=True)
        if stack.goal == Goal.TERMINATED.value:
            raise ObjectTransitionRefusedError(
                action="update", kind="stack", uuid=uuid, state="Terminated"
            )
        parsed = stack_bodies.service_values(body["services"])
        live = {service.name: service for service in _live_services(session, stack)}
        new = [(name, values) for name, values in parsed if name not in live]
        added = self._add_services(session, owner_id, stack, new)
        record = actions.new_object_action(
            session, target=stack, operation="update", request=request, state=ActionState.SUCCESS
        )
        session.commit()
        uuids = {s.name: s.uuid for s in [*live.values(), *added]}
        for name, values in parsed:
            if name in live:
                links = _links_to_uuids(values["linked_to_service"], uuids)
                body = service_body({**values, "linked_to_service": links})
                self.control.update(
                    session, owner_id=owner_id, uuid=live[name].uuid, body=body, request=request
                )
        kept = {name for name, _ in parsed}
        for name, service in live.items():
            if name not in kept:
                self._act(session, service, ServiceAction.TERMINATE, request, owner_id=owner_id)
        if stack.goal == Goal.RUNNING.value:
            for service in added:
                self._act(session, service, ServiceAction.START, request, owner_id=owner_id)
        self.control.operations.publisher.publish([events.action_event(record, events.CREATE)])
        return stack, record

    def export(self, session: Session, *, owner_id: int, uuid: str) -> dict[str, Any]:
        """The stack's live services as a stackfile's mapping, links by service name."""
        stack = stacks.get_stack(session, owner_id=owner_id, uuid=uuid)
        held = _live_services(session, stack)
        names = {service.uuid: service.name for service in held}
        exported = []
        for service in held:
            body = stored_body(service)
            body["linked_to_service"] = _links_to_names(service.linked_to_service, names)
            exported.append((service.name, body))
        loaded: dict[str, Any] = yaml.safe_load(render_stackfile(exported)) or {}
        return loaded

    def perform(
        self,
        session: Session,
        *,
        owner_id: int,
        uuid: str,
        action: ServiceAction,
        request: RequestInfo,
    ) -> tuple[Stack, ActionRecord]:
        """Accept `action` on the stack and take it on every service of the stack whose state
        allows it.

        Raises:
            StackNotFoundError, ObjectTransitionRefusedError: as for services.
        """
        stack = stacks.get_stack(session, owner_id=owner_id, uuid=uuid, lock=True)
        services = stacks.services_of(session, [stack.id])[stack.id]
        state = stacks.state_of(session, stack, services)
        if action not in stack_allowed_actions(state):
            raise ObjectTransitionRefusedError(
                action=action.value, kind="stack", uuid=uuid, state=state.value
            )
        record = actions.new_object_action(
            session, target=stack, operation=action.value, request=request
        )
        stack.action_id = record.id
        if action is ServiceAction.TERMINATE:
            stack.goal = Goal.TERMINATED.value
        elif action is not ServiceAction.STOP:
            stack.goal = Goal.RUNNING.value
            stack.deployed_datetime = stack.deployed_datetime or utcnow()
        session.commit()
        acted = [
            service.uuid
            for service in linked_first(services)
            if self._act(session, service, action, request, owner_id=owner_id)
        ]
        if not acted:
            actions.finish_action(session, action_uuid=record.uuid, error=None)
            session.commit()
        self.control.operations.publisher.publish([events.action_event(record, events.CREATE)])
        return stack, record

    def _act(
        self,
        session: Session,
        service: Service,
        action: ServiceAction,
        request: RequestInfo,
        *,
        owner_id: int,
    ) -> bool:
        """Take `action` on one service of the stack if its state allows it."""
        members = service_records.members_of(session, [service.id])[service.id]
        state = service_records.state_of(service, (m.state for m in members))
        if action not in allowed_actions(state):
            return False
        try:
            self.control.perform(
                session, owner_id=owner_id, uuid=service.uuid, action=action, request=request
            )
        except ConflictError as exc:  # it changed state meanwhile
            log.info("stack action %s skipped service %s: %s", action, service.uuid, exc)
            return False
        return True


def _live_services(session: Session, stack: Stack) -> list[Service]:
    """The stack's services that are not terminated, in creation order: the ones its service
    names stand for, since a terminated service's name may be taken again."""
    held = stacks.services_of(session, [stack.id])[stack.id]
    return [service for service in held if service.goal != Goal.TERMINATED.value]


def _links_to_uuids(links: list[dict[str, Any]], uuids: Mapping[str, str]) -> list[dict[str, Any]]:
    """Links as stored: a `to_service` that names a service of the stack (`uuids`, name to
    uuid) becomes that service's uuid; any other is kept, for the check to find (a uuid) or
    refuse under the name it was given."""
    return [
        {**link, "to_service": uuids.get(link["to_service"], link["to_service"])} for link in links
    ]


def _links_to_names(links: list[dict[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Links as a stackfile says them: each to a service of the stack (`names`, uuid to name)
    by that service's name. A link out of the stack (made through the service API) is left
    out: a stackfile's links reach only its own services."""
    return [
        {**link, "to_service": names[link["to_service"]]}
        for link in links
        if link["to_service"] in names
    ]


def linked_first(services: list[Service]) -> list[Service]:
    """The services with every service before those that link to it: a linking service's
    containers go where the linked ones are (docs/api.md §13.6), so those must exist first.
    Stackfiles have no link cycles (`core.stackfile`); a cycle made through the service API is
    broken at the first service met."""
    by_uuid = {service.uuid: service for service in services}
    ordered: list[Service] = []
    placed: set[str] = set()

    def place(service: Service, seen: frozenset[str]) -> None:
        if service.uuid in placed or service.uuid in seen:
            return
        for link in service.linked_to_service:
            target = by_uuid.get(link["to_service"])
            if target is not None:
                place(target, seen | {service.uuid})
        placed.add(service.uuid)
        ordered.append(service)

    for service in services:
        place(service, frozenset())
    return ordered


def _stack_name(value: Any) -> str:
    name = checks.string("name", value)
    if not validation.NAME.fullmatch(name) or len(name) > validation.MAX_NAME_LENGTH:
        raise InvalidInputError(
            "name", "must be 1 to 255 letters, digits, _ . - starting with a letter or digit"
        )
    return name
