"""Container records: create, read, list, and the conditional updates that accept an action.

Every state change is one UPDATE whose WHERE clause repeats the state it expects, so two racing
writers (two API requests, or an API request and a report) cannot both win: the loser sees a
row count of zero. Functions take the session and keyword-only arguments and raise domain errors;
callers own the transaction boundaries only where they must also talk to the broker. What a node
observed is written by `controlplane.db.observations`, never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from controlplane.core import lifecycle
from controlplane.core.errors import (
    ActionNotCancelableError,
    ActionNotRetriableError,
    ContainerNotFoundError,
    TransitionRefusedError,
)
from controlplane.core.lifecycle import Action, ActionState, State
from controlplane.db import actions
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import page, utcnow, uuid_prefix
from controlplane.db.models import LIVE, ActionRecord, Container, Node, Service, Stack
from controlplane.db.nodes import NODE_DEPLOYED, require_reachable

# How often a conditional update is retried when another writer changed the row in between.
_TRANSITION_ATTEMPTS = 3


@dataclass(frozen=True)
class ContainerFilters:
    state: str | None = None
    name: str | None = None
    unique_name: str | None = None
    uuid: str | None = None
    uuid_prefix: str | None = None
    node_uuid: str | None = None
    service_uuid: str | None = None
    stack_name: str | None = None


def count_live_of_owner(session: Session, *, owner_id: int) -> int:
    """The owner's containers that are not Terminated (read through ix_containers_owner_state)."""
    query = select(func.count()).where(Container.owner_id == owner_id, LIVE)
    return session.scalar(query) or 0


def insert_container(
    session: Session, *, owner_id: int, node_id: int, fields: dict[str, Any], request: RequestInfo
) -> tuple[Container, ActionRecord]:
    """Record a new container in Init with its (already finished) create Action, atomically.

    The container comes back with its node loaded, so the answer and the events read nothing
    after the commit (which would begin another transaction, see `begin_action`).
    """
    container, action = add_container(
        session, owner_id=owner_id, node_id=node_id, fields=fields, request=request
    )
    session.commit()
    return container, action


def add_container(
    session: Session, *, owner_id: int, node_id: int, fields: dict[str, Any], request: RequestInfo
) -> tuple[Container, ActionRecord]:
    """`insert_container` without the commit, for a caller that records more with it (a
    service's controller)."""
    container = Container(
        owner_id=owner_id,
        node_id=node_id,
        node=session.get(Node, node_id),
        state=State.INIT.value,
        created_at=utcnow(),
        **fields,
    )
    session.add(container)
    session.flush()
    action = actions.new_action(
        session, container, actions.CREATE, request, state=ActionState.SUCCESS
    )
    return container, action


# Built once: every container request and action runs it.
_GET_CONTAINER = select(Container).where(
    Container.uuid == bindparam("uuid"), Container.owner_id == bindparam("owner_id")
)


def get_container(session: Session, *, owner_id: int, uuid: str) -> Container:
    container = session.scalar(_GET_CONTAINER, {"uuid": uuid, "owner_id": owner_id})
    if container is None:
        raise ContainerNotFoundError(ident=uuid)
    return container


def on_node(session: Session, *, node_id: int) -> dict[str, Container]:
    """Every record placed on a node, Terminated ones included, by uuid (for a relist)."""
    records = session.scalars(select(Container).where(Container.node_id == node_id))
    return {record.uuid: record for record in records}


def list_containers(
    session: Session, *, owner_id: int, filters: ContainerFilters, limit: int, offset: int
) -> tuple[list[Container], int]:
    query = select(Container).where(Container.owner_id == owner_id)
    if filters.state is not None:
        query = query.where(Container.state == filters.state)
    if filters.name is not None:
        query = query.where(Container.name == filters.name)
    if filters.unique_name is not None:
        query = query.where(Container.unique_name == filters.unique_name)
    if filters.uuid is not None:
        query = query.where(Container.uuid == filters.uuid)
    if filters.uuid_prefix is not None:
        query = query.where(uuid_prefix(Container.uuid, filters.uuid_prefix))
    if filters.node_uuid is not None:
        query = query.join(Node).where(Node.uuid == filters.node_uuid)
    if filters.service_uuid is not None or filters.stack_name is not None:
        query = query.join(Service, Container.service_id == Service.id)
    if filters.service_uuid is not None:
        query = query.where(Service.uuid == filters.service_uuid)
    if filters.stack_name is not None:
        query = query.join(Stack, Service.stack_id == Stack.id).where(
            Stack.name == filters.stack_name
        )
    return page(session, query, Container.id, limit=limit, offset=offset)


def begin_action(
    session: Session, *, owner_id: int, uuid: str, action: Action, request: RequestInfo
) -> tuple[Container, ActionRecord, State]:
    """Accept `action` on a container: move it to its transitional state and open a Pending
    Action that remembers the stable state left behind (where a failure or a cancel returns).

    Raises:
        ContainerNotFoundError: no such container for this owner.
        TransitionRefusedError: the current state does not allow the action.
    """
    staged = stage_action(
        session,
        owner_id=owner_id,
        uuid=uuid,
        action=action,
        request=request,
        attempts=_TRANSITION_ATTEMPTS,
    )
    session.commit()
    return staged


def stage_action(
    session: Session,
    *,
    owner_id: int,
    uuid: str,
    action: Action,
    request: RequestInfo,
    attempts: int = 1,
) -> tuple[Container, ActionRecord, State]:
    """`begin_action` without the commit, for a caller that accepts several at once: by
    default a lost race is refused without rolling back what the caller staged before."""
    container, current = _transition(
        session, owner_id=owner_id, uuid=uuid, action=action, attempts=attempts
    )
    record = actions.new_action(
        session,
        container,
        action.value,
        request,
        state=ActionState.PENDING,
        rollback_state=current,
    )
    # Set before the commit, not read back after it: a read after it would begin another
    # transaction, which on SQLite holds the write lock until the request's end.
    keep_in_step(container, {"state": lifecycle.target_state(action).value})
    return container, record, current


def retry_action(
    session: Session, *, owner_id: int, uuid: str
) -> tuple[Container, ActionRecord, State]:
    """Run a Failed action's operation again, under the same Action, if the container's state
    still allows it.

    Raises:
        ActionNotFoundError: no such action for this owner.
        ActionNotRetriableError: the action did not fail, or is not an operation.
        TransitionRefusedError: the container's state no longer allows the operation.
    """
    record = actions.get_action(session, owner_id=owner_id, uuid=uuid)
    if (
        record.container is None
        or record.state != ActionState.FAILED.value
        or record.operation not in set(Action)
    ):
        raise ActionNotRetriableError(uuid=uuid, state=record.state)
    action = Action(record.operation)
    container, current = _transition(
        session,
        owner_id=owner_id,
        uuid=record.container.uuid,
        action=action,
        attempts=_TRANSITION_ATTEMPTS,
    )
    if not actions.reopen(session, action=record, rollback_state=current):
        session.rollback()
        raise ActionNotRetriableError(uuid=uuid, state=record.state)
    session.refresh(container)  # before the commit, as in begin_action
    session.refresh(record)
    session.commit()
    return container, record, current


def cancel_action(session: Session, *, owner_id: int, uuid: str) -> tuple[Container, ActionRecord]:
    """Cancel a Pending action before its node agent claims it, and return its container to
    the state it was accepted from. Once claimed (In progress) it can no longer be canceled.

    Raises:
        ActionNotFoundError: no such action for this owner.
        ActionNotCancelableError: the action is not Pending (any more).
    """
    record = actions.get_action(session, owner_id=owner_id, uuid=uuid)
    container = record.container
    # Only a container's operations wait for a node's claim; a service's never is Pending.
    if container is None or not actions.mark_canceled(session, action=record):
        raise ActionNotCancelableError(uuid=uuid, state=record.state)
    operation = Action(record.operation)
    session.execute(
        update(Container)
        .where(
            Container.id == record.container_id,
            Container.state == lifecycle.target_state(operation).value,
        )
        .values(state=record.rollback_state)
        .execution_options(synchronize_session=False)
    )
    session.refresh(record)  # before the commit, as in begin_action
    session.commit()
    return container, record


def _transition(
    session: Session, *, owner_id: int, uuid: str, action: Action, attempts: int
) -> tuple[Container, State]:
    """Move a container to `action`'s transitional state with one conditional UPDATE (not yet
    committed). Of two racing requests exactly one wins; the other is refused.

    A lost race rolls the transaction back and tries again, up to `_TRANSITION_ATTEMPTS`
    times; with `attempts=1` it is refused at once and the transaction is left as it is, for a
    caller that staged other changes in it."""
    for attempt in range(attempts):
        container = get_container(session, owner_id=owner_id, uuid=uuid)
        current = State(container.state)
        if not lifecycle.is_allowed(current, action):
            raise TransitionRefusedError(action=action.value, uuid=uuid, state=current.value)
        require_reachable(container.node)
        result = session.execute(
            update(Container)
            .where(
                Container.id == container.id,
                Container.state == current.value,
                # The node may be declared Unreachable between the check and this update.
                Container.node_id.in_(select(Node.id).where(Node.state == NODE_DEPLOYED)),
            )
            .values(state=lifecycle.target_state(action).value)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return container, current
        if attempt + 1 < attempts:
            session.rollback()
    raise TransitionRefusedError(
        "container {uuid} changed state concurrently; try again", uuid=uuid
    )


def abandon_action(
    session: Session,
    *,
    container: Container,
    action: ActionRecord,
    rollback_state: State,
    reason: str,
) -> None:
    """Undo an accepted action whose operation never reached the node (broker down)."""
    session.execute(
        update(Container)
        .where(Container.id == container.id, Container.state.in_(lifecycle.TRANSITIONAL_STATES))
        .values(state=rollback_state.value)
        .execution_options(synchronize_session=False)
    )
    actions.finish_action(session, action_uuid=action.uuid, error=reason)
    session.commit()


def keep_in_step(container: Container, values: dict[str, Any]) -> None:
    """After an UPDATE that bypassed the session, set the loaded record to the row's new values
    (as if loaded), so the next report of a batch is judged on them and events read them."""
    for key, value in values.items():
        set_committed_value(container, key, value)
