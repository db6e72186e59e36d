"""The use cases that change what a container should be: create, perform an action, retry, cancel.

One `Operations` object, built once in `create_app`, holds what every use case needs (the
database for the reads made outside the write, the dispatcher, the event publisher, the
settings), so a resource only decodes its request and calls one method.

The order matters. The state change and the Action are committed first, then the task is sent,
so the reporter never receives a report for a change it cannot find. If the broker refuses the
task, the change is undone (container back to its stable state, Action Failed) and the caller
gets an error: no container is left waiting for an operation that no node will ever run.
Events about an action are published before its task is sent, so subscribers see the change
before anything the node reports about it (the node's claim can beat the request's reply).
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Any

from sqlalchemy.orm import Session

from controlplane import events
from controlplane.core import lifecycle, policy
from controlplane.core.errors import BrokerUnavailableError, QuotaExceededError
from controlplane.core.lifecycle import Action, State
from controlplane.core.logcontext import current_request_id
from controlplane.core.messages import CREATING_ACTIONS, ContainerSpec, Operation
from controlplane.core.scheduler import choose_node
from controlplane.core.validation import take_placement, validate_create
from controlplane.db import actions, containers, nodes
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import Database, new_uuid
from controlplane.db.models import ActionRecord, Container
from controlplane.dispatch import Dispatcher
from controlplane.ratelimit import CreateRate
from controlplane.settings import Settings


def docker_volume(owner_id: int, name: str) -> str:
    """The Docker volume behind a named-volume binding. Volume names are per user, like every
    other object, so one user's `data` is never another's: the name on the node carries the
    owner's id."""
    return f"cp-u{owner_id}-{name}"


def docker_name(container: Container) -> str:
    """The Docker container's name: unique on its node whoever owns it. A plain container's
    unique name already ends with its uuid's start; a service container's (`web-1`) is unique
    only in its owner's account, so its Docker name gets the same ending."""
    if container.service_id is None:
        return container.unique_name
    return f"{container.unique_name}-{container.uuid[:8]}"


def container_spec(container: Container) -> ContainerSpec:
    """Everything the node needs to (re)create the Docker container: the definition's fields,
    copied by name, with named volumes translated to the owner's Docker volumes."""
    values = {
        spec_field.name: getattr(container, spec_field.name) for spec_field in fields(ContainerSpec)
    }
    values["unique_name"] = docker_name(container)
    values["bindings"] = [
        {
            **binding,
            "volume": binding["volume"] and docker_volume(container.owner_id, binding["volume"]),
        }
        for binding in container.bindings
    ]
    return ContainerSpec(**values)


class Operations:
    """Every change a client asks of a container, accepted or refused as a whole."""

    def __init__(
        self,
        database: Database,
        dispatcher: Dispatcher,
        publisher: events.EventPublisher,
        settings: Settings,
        create_rate: CreateRate,
    ) -> None:
        self.database = database
        self.dispatcher = dispatcher
        self.publisher = publisher
        self.settings = settings
        self.create_rate = create_rate

    def create(
        self, session: Session, *, owner_id: int, body: dict[str, Any], request: RequestInfo
    ) -> tuple[Container, ActionRecord]:
        """Record a new container in Init on the node placement chooses; nothing reaches a
        node until it is started.

        Raises:
            InvalidInputError: a field of `body` is missing, unknown or out of range.
            DangerousOptionForbiddenError: an option the operator does not allow.
            NoNodeAvailableError, NodeNotFoundError, NodeUnreachableError: from placement.
            RateLimitedError, QuotaExceededError: the user's creates a minute, or live
                containers, are at their limit.
        """
        values = validate_create(body)
        placement = take_placement(values)
        policy.check_allowed(values, self.settings.allow_dangerous)
        self.create_rate.take(owner_id)
        self._check_quota(session, owner_id)
        # The loads are read outside the write: placement by load is a preference, not a rule,
        # and a node that turns Unreachable meanwhile is one a moment late, as it always was.
        with self.database.read_session() as reading:
            node = choose_node(nodes.node_loads(reading), placement)
        uuid = new_uuid()
        values.update(uuid=uuid, unique_name=f"{values['name']}-{uuid[:8]}")
        container, record = containers.insert_container(
            session, owner_id=owner_id, node_id=node.id, fields=values, request=request
        )
        self.publisher.publish(
            [
                events.container_event(container, events.CREATE),
                events.action_event(record, events.CREATE),
            ]
        )
        return container, record

    def _check_quota(self, session: Session, owner_id: int) -> None:
        """Raises QuotaExceededError when the owner holds its most live containers. Counted in
        the create's own transaction: on SQLite that holds the write lock, so two creates cannot
        both take the last place; on PostgreSQL they can, and the cap may be passed by as many
        creates as race for it."""
        count = containers.count_live_of_owner(session, owner_id=owner_id)
        limit = self.settings.max_containers_per_user
        if count >= limit:
            raise QuotaExceededError(count=count, limit=limit)

    def perform(
        self,
        session: Session,
        *,
        owner_id: int,
        uuid: str,
        action: Action,
        request: RequestInfo,
        reuse_volumes: bool = True,
    ) -> tuple[Container, ActionRecord]:
        """Accept `action` on the owner's container and queue it for its node.

        Raises:
            ContainerNotFoundError, TransitionRefusedError: from `containers.begin_action`.
            DangerousOptionForbiddenError: the action would run a container with an option the
                operator does not allow (any more).
            BrokerUnavailableError: the task could not be queued; the change was undone.
        """
        if action in CREATING_ACTIONS:
            self._check_policy(session, owner_id=owner_id, uuid=uuid, action=action)
        container, record, rollback = containers.begin_action(
            session, owner_id=owner_id, uuid=uuid, action=action, request=request
        )
        self.publisher.publish(
            [
                events.container_event(container, events.UPDATE),
                events.action_event(record, events.CREATE),
            ]
        )
        self.dispatch(session, container, record, rollback, reuse_volumes)
        return container, record

    def retry(self, session: Session, *, owner_id: int, uuid: str) -> ActionRecord:
        """Run a Failed action's operation again under the same Action (a redeploy reuses
        volumes, its default, since the original request's choice is not kept).

        Raises:
            ActionNotFoundError, ActionNotRetriableError, TransitionRefusedError: from
                `containers.retry_action`.
            DangerousOptionForbiddenError: as for `perform`.
            BrokerUnavailableError: the task could not be queued; the action is Failed again.
        """
        failed = actions.get_action(session, owner_id=owner_id, uuid=uuid)
        if failed.container is not None and failed.operation in CREATING_ACTIONS:
            self._check_policy(
                session,
                owner_id=owner_id,
                uuid=failed.container.uuid,
                action=Action(failed.operation),
            )
        container, record, rollback = containers.retry_action(session, owner_id=owner_id, uuid=uuid)
        self.publisher.publish(
            [
                events.container_event(container, events.UPDATE),
                events.action_event(record, events.UPDATE),
            ]
        )
        self.dispatch(session, container, record, rollback, True)
        return record

    def cancel(self, session: Session, *, owner_id: int, uuid: str) -> ActionRecord:
        """Cancel a Pending action before its node claims it; its container goes back.

        Raises:
            ActionNotFoundError, ActionNotCancelableError: from `containers.cancel_action`.
        """
        container, record = containers.cancel_action(session, owner_id=owner_id, uuid=uuid)
        self.publisher.publish(
            [
                events.container_event(container, events.UPDATE),
                events.action_event(record, events.UPDATE),
            ]
        )
        return record

    def dispatch(
        self,
        session: Session,
        container: Container,
        record: ActionRecord,
        rollback: State,
        reuse_volumes: bool,
    ) -> None:
        """Queue an accepted action's operation for its node; if the broker refuses it, the
        action is undone (container back to `rollback`, Action Failed) and the error raised.

        Raises:
            BrokerUnavailableError: the task could not be queued.
        """
        action = Action(record.operation)
        operation = Operation(
            action=action.value,
            action_uuid=record.uuid,
            container_uuid=container.uuid,
            rollback_state=rollback.value,
            issued_ns=time.time_ns(),
            spec=container_spec(container).to_dict() if action in CREATING_ACTIONS else None,
            stop_timeout=self.settings.stop_timeout,
            reuse_volumes=reuse_volumes,
            request_id=current_request_id(),
        )
        try:
            self.dispatcher.send_operation(container.node.uuid, operation)
        except BrokerUnavailableError as exc:
            containers.abandon_action(
                session,
                container=container,
                action=record,
                rollback_state=rollback,
                reason=exc.message,
            )
            raise

    def _check_policy(self, session: Session, *, owner_id: int, uuid: str, action: Action) -> None:
        """Check the dangerous options again before a start or redeploy, so an operator who
        withdraws a permission stops every later run of a container that uses it. A state that
        refuses the action anyway is left to `begin_action`, whose 409 says more."""
        container = containers.get_container(session, owner_id=owner_id, uuid=uuid)
        if lifecycle.is_allowed(State(container.state), action):
            policy.check_allowed(container_spec(container).to_dict(), self.settings.allow_dangerous)
