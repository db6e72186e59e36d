"""Accepting a lifecycle action: the state change, the Action record and the node's task.

The order matters. The state change and the Action are committed first, then the task is sent,
so the reporter never receives a report for a change it cannot find. If the broker refuses the
task, the change is undone (container back to its stable state, Action Failed) and the caller
gets an error: no container is left waiting for an operation that no node will ever run.
Events go out only once the task is queued: an action undone within its own request changed
nothing anybody needs to hear about.
"""

from __future__ import annotations

import time
from dataclasses import fields

from sqlalchemy.orm import Session

from controlplane import events
from controlplane.core import lifecycle, policy
from controlplane.core.errors import BrokerUnavailableError
from controlplane.core.lifecycle import Action, State
from controlplane.core.messages import CREATING_ACTIONS, ContainerSpec, Operation
from controlplane.db import actions, containers
from controlplane.db.actions import RequestInfo
from controlplane.db.models import ActionRecord, Container
from controlplane.dispatch import Dispatcher
from controlplane.settings import Settings


def docker_volume(owner_id: int, name: str) -> str:
    """The Docker volume behind a named-volume binding. Volume names are per user, like every
    other object, so one user's `data` is never another's: the name on the node carries the
    owner's id."""
    return f"cp-u{owner_id}-{name}"


def container_spec(container: Container) -> ContainerSpec:
    """Everything the node needs to (re)create the Docker container: the definition's fields,
    copied by name, with named volumes translated to the owner's Docker volumes."""
    values = {
        spec_field.name: getattr(container, spec_field.name) for spec_field in fields(ContainerSpec)
    }
    values["bindings"] = [
        {
            **binding,
            "volume": binding["volume"] and docker_volume(container.owner_id, binding["volume"]),
        }
        for binding in container.bindings
    ]
    return ContainerSpec(**values)


def perform(
    session: Session,
    dispatcher: Dispatcher,
    publisher: events.EventPublisher,
    *,
    owner_id: int,
    uuid: str,
    action: Action,
    request: RequestInfo,
    settings: Settings,
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
        _check_policy(session, owner_id=owner_id, uuid=uuid, action=action, settings=settings)
    container, record, rollback = containers.begin_action(
        session, owner_id=owner_id, uuid=uuid, action=action, request=request
    )
    # Published before the task is sent, so subscribers see the change before anything the
    # node reports about it (the node's claim can beat this request's reply).
    publisher.publish(
        [
            events.container_event(container, events.UPDATE),
            events.action_event(record, events.CREATE),
        ]
    )
    _dispatch(session, dispatcher, container, record, rollback, settings, reuse_volumes)
    return container, record


def retry(
    session: Session,
    dispatcher: Dispatcher,
    publisher: events.EventPublisher,
    *,
    owner_id: int,
    uuid: str,
    settings: Settings,
) -> ActionRecord:
    """Run a Failed action's operation again under the same Action (a redeploy reuses volumes,
    its default, since the original request's choice is not kept).

    Raises:
        ActionNotFoundError, ActionNotRetriableError, TransitionRefusedError: from
            `containers.retry_action`.
        DangerousOptionForbiddenError: as for `perform`.
        BrokerUnavailableError: the task could not be queued; the action is Failed again.
    """
    failed = actions.get_action(session, owner_id=owner_id, uuid=uuid)
    if failed.operation in CREATING_ACTIONS:
        _check_policy(
            session,
            owner_id=owner_id,
            uuid=failed.container.uuid,
            action=Action(failed.operation),
            settings=settings,
        )
    container, record, rollback = containers.retry_action(session, owner_id=owner_id, uuid=uuid)
    publisher.publish(
        [
            events.container_event(container, events.UPDATE),
            events.action_event(record, events.UPDATE),
        ]
    )
    _dispatch(session, dispatcher, container, record, rollback, settings, True)
    return record


def _dispatch(
    session: Session,
    dispatcher: Dispatcher,
    container: Container,
    record: ActionRecord,
    rollback: State,
    settings: Settings,
    reuse_volumes: bool,
) -> None:
    action = Action(record.operation)
    operation = Operation(
        action=action.value,
        action_uuid=record.uuid,
        container_uuid=container.uuid,
        rollback_state=rollback.value,
        issued_ns=time.time_ns(),
        spec=container_spec(container).to_dict() if action in CREATING_ACTIONS else None,
        stop_timeout=settings.stop_timeout,
        reuse_volumes=reuse_volumes,
    )
    try:
        dispatcher.send_operation(container.node.uuid, operation)
    except BrokerUnavailableError as exc:
        containers.abandon_action(
            session, container=container, action=record, rollback_state=rollback, reason=exc.message
        )
        raise


def _check_policy(
    session: Session, *, owner_id: int, uuid: str, action: Action, settings: Settings
) -> None:
    """Check the dangerous options again before a start or redeploy, so an operator who
    withdraws a permission stops every later run of a container that uses it. A state that
    refuses the action anyway is left to `begin_action`, whose 409 says more."""
    container = containers.get_container(session, owner_id=owner_id, uuid=uuid)
    if lifecycle.is_allowed(State(container.state), action):
        policy.check_allowed(container_spec(container).to_dict(), settings.allow_dangerous)
