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

from sqlalchemy.orm import Session

from controlplane import events, store
from controlplane.dispatch import Dispatcher
from controlplane.errors import BrokerUnavailableError
from controlplane.lifecycle import Action
from controlplane.messages import ContainerSpec, Operation
from controlplane.models import ActionRecord, Container


def container_spec(container: Container) -> ContainerSpec:
    """Everything the node needs to (re)create the Docker container."""
    return ContainerSpec(
        uuid=container.uuid,
        unique_name=container.unique_name,
        image_name=container.image_name,
        run_command=container.run_command,
        entrypoint=container.entrypoint,
        working_dir=container.working_dir,
        container_envvars=list(container.container_envvars),
        labels=dict(container.labels),
        memory=container.memory,
        cpu_shares=container.cpu_shares,
        autorestart=container.autorestart,
    )


def perform(
    session: Session,
    dispatcher: Dispatcher,
    publisher: events.EventPublisher,
    *,
    owner_id: int,
    uuid: str,
    action: Action,
    request: store.RequestInfo,
    stop_timeout: int,
) -> tuple[Container, ActionRecord]:
    """Accept `action` on the owner's container and queue it for its node.

    Raises:
        ContainerNotFoundError, TransitionRefusedError: from `store.begin_action`.
        BrokerUnavailableError: the task could not be queued; the change was undone.
    """
    container, record, rollback = store.begin_action(
        session, owner_id=owner_id, uuid=uuid, action=action, request=request
    )
    operation = Operation(
        action=action.value,
        action_uuid=record.uuid,
        container_uuid=container.uuid,
        rollback_state=rollback.value,
        issued_ns=time.time_ns(),
        spec=container_spec(container).to_dict() if action is Action.START else None,
        stop_timeout=stop_timeout,
    )
    try:
        dispatcher.send_operation(container.node.uuid, operation)
    except BrokerUnavailableError as exc:
        store.abandon_action(
            session, container=container, action=record, rollback_state=rollback, reason=exc.message
        )
        raise
    publisher.publish(
        [
            events.container_event(container, events.UPDATE),
            events.action_event(record, events.CREATE),
        ]
    )
    return container, record
