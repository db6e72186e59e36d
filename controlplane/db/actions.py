"""Actions, the audit trail of API calls (Tutum's Action): recording, closing, claiming,
canceling, retrying and listing them.

Every change of an Action's state is a conditional UPDATE on the state it expects, like the
container transitions in `controlplane.db.containers`: of a cancel and a node agent's claim
racing for one Pending action exactly one wins, so an operation is either canceled before any
Docker call or runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from controlplane.core.errors import ActionNotFoundError
from controlplane.core.lifecycle import OPEN_ACTION_STATES, Action, ActionState, State
from controlplane.core.messages import ClaimRequest, ClaimVerdict
from controlplane.db.engine import new_uuid, page, utcnow, uuid_prefix
from controlplane.db.models import ActionRecord, Container, Service, Stack

CREATE = "create"
ACTION_NAMES = {
    CREATE: "Container Create",
    "start": "Container Start",
    "stop": "Container Stop",
    "terminate": "Container Terminate",
    "redeploy": "Container Redeploy",
}


# The operations on services and stacks, and the names of their Actions.
OBJECT_OPERATIONS = ("create", "update", "start", "stop", "redeploy", "terminate", "scale")
OBJECT_ACTION_NAMES = tuple(
    f"{kind} {operation.capitalize()}"
    for kind in ("Service", "Stack")
    for operation in OBJECT_OPERATIONS
)


@dataclass(frozen=True)
class RequestInfo:
    """What the audit trail records about the API call behind an action."""

    method: str
    path: str
    user_agent: str
    ip: str
    body: str


@dataclass(frozen=True)
class ActionFilters:
    object_uuid: str | None = None
    uuid_prefix: str | None = None
    state: str | None = None
    start_after: datetime | None = None
    start_before: datetime | None = None
    end_after: datetime | None = None
    end_before: datetime | None = None


def new_action(
    session: Session,
    container: Container,
    operation: str,
    request: RequestInfo,
    *,
    state: ActionState,
    rollback_state: State | None = None,
) -> ActionRecord:
    """Add an Action for `operation` on `container` (flushed, not committed)."""
    return _added(
        session,
        request,
        state,
        owner_id=container.owner_id,
        container_id=container.id,
        name=ACTION_NAMES[operation],
        operation=operation,
        rollback_state=rollback_state.value if rollback_state else None,
    )


def new_object_action(
    session: Session,
    *,
    target: Service | Stack,
    operation: str,
    request: RequestInfo,
    state: ActionState = ActionState.IN_PROGRESS,
) -> ActionRecord:
    """An Action on a service or a stack (flushed): In progress until the service controller
    closes it, since no node claims it. Its name is one of `OBJECT_ACTION_NAMES`."""
    kind = "service" if isinstance(target, Service) else "stack"
    return _added(
        session,
        request,
        state,
        owner_id=target.owner_id,
        **{f"{kind}_id": target.id, kind: target},
        name=f"{kind.capitalize()} {operation.capitalize()}",
        operation=operation,
    )


def _added(
    session: Session, request: RequestInfo, state: ActionState, **fields: Any
) -> ActionRecord:
    """A new Action of `request` in `state` (closed at once if that state is final)."""
    now = utcnow()
    record = ActionRecord(
        uuid=new_uuid(),
        method=request.method,
        path=request.path,
        user_agent=request.user_agent,
        ip=request.ip,
        body=request.body,
        state=state.value,
        start_date=now,
        end_date=now if state in (ActionState.SUCCESS, ActionState.FAILED) else None,
        **fields,
    )
    session.add(record)
    session.flush()
    return record


def action_object(record: ActionRecord) -> tuple[str, str]:
    """The kind and uuid of what the action is about: a container, a service or a stack."""
    if record.container is not None:
        return "container", record.container.uuid
    if record.service is not None:
        return "service", record.service.uuid
    assert record.stack is not None, "every action has an object"
    return "stack", record.stack.uuid


def finish_action(
    session: Session, *, action_uuid: str, error: str | None, container_id: int | None = None
) -> bool:
    """Close an open action as Success, or Failed with `error`; a closed one stays as it is.
    With `container_id`, only an action of that container: a node's report names an action, and
    closes it only if it is about the container the report is about (and so on that node)."""
    state = ActionState.FAILED if error else ActionState.SUCCESS
    return _move(
        session,
        action_uuid,
        OPEN_ACTION_STATES,
        container_id=container_id,
        state=state.value,
        reason=error,
        end_date=utcnow(),
    )


def close_action(
    session: Session, *, action_uuid: str, error: str | None, container_id: int | None = None
) -> ActionRecord | None:
    """`finish_action`, returning the Action as closed (for its event), or None if this call
    did not close it (it was closed already, or is unknown)."""
    if not finish_action(session, action_uuid=action_uuid, error=error, container_id=container_id):
        return None
    return reloaded(session, action_uuid)


def reloaded(session: Session, action_uuid: str) -> ActionRecord | None:
    """The Action as the database has it now. populate_existing: the conditional UPDATEs here
    bypass the session, which may hold the record already with its old values."""
    return session.scalar(
        select(ActionRecord)
        .where(ActionRecord.uuid == action_uuid)
        .execution_options(populate_existing=True)
    )


def claim_action(
    session: Session, claim: ClaimRequest
) -> tuple[ActionRecord | None, bool, ClaimVerdict]:
    """A node agent asks to run an Action's operation: the fence every operation passes.

    Granted only for the container's newest operation Action, to the node the container is
    placed on, while that Action is open: Pending becomes In progress (of a claim and a cancel
    racing, exactly one wins), and an Action already In progress is granted again, since that is
    its own task delivered again after the agent died mid-operation. Anything else is refused:
    canceled or closed (Success, Failed: the stuck-operation timeout may have closed it while
    the task waited in the broker), superseded by a newer Action, unknown, or not this node's.

    Returns the Action (None if unknown), whether this claim moved it, and the verdict.
    Committed here, because the answer goes back to the agent.
    """
    record = reloaded(session, claim.action_uuid)
    verdict = _judge_claim(session, record, claim)
    moved = False
    if verdict.granted and record is not None and record.state == ActionState.PENDING.value:
        moved = _move(
            session, record.uuid, {ActionState.PENDING}, state=ActionState.IN_PROGRESS.value
        )
        if moved:  # the row as it is now, without reading it again: only its state moved
            set_committed_value(record, "state", ActionState.IN_PROGRESS.value)
        else:  # canceled, or claimed by a second delivery, in between
            record = reloaded(session, claim.action_uuid)
            verdict = _judge_claim(session, record, claim)
    session.commit()
    return record, moved, verdict


def _judge_claim(
    session: Session, record: ActionRecord | None, claim: ClaimRequest
) -> ClaimVerdict:
    if record is None:
        return ClaimVerdict(granted=False, reason=f"action {claim.action_uuid} is unknown")
    container = record.container
    if (
        container is None
        or container.uuid != claim.container_uuid
        or container.node.uuid != claim.node_uuid
    ):
        return ClaimVerdict(
            granted=False,
            reason=f"action {record.uuid} is not for container {claim.container_uuid} "
            f"on node {claim.node_uuid}",
        )
    newer = session.scalar(
        select(ActionRecord.uuid)
        .where(
            ActionRecord.container_id == record.container_id,
            ActionRecord.id > record.id,
            ActionRecord.operation.in_([action.value for action in Action]),
        )
        .limit(1)
    )
    if newer is not None:
        return ClaimVerdict(granted=False, reason=f"superseded by action {newer}")
    if ActionState(record.state) not in OPEN_ACTION_STATES:
        return ClaimVerdict(granted=False, reason=f"action {record.uuid} is {record.state}")
    return ClaimVerdict(granted=True)


def stuck_actions(session: Session, *, node_id: int, before: datetime) -> dict[int, ActionRecord]:
    """The newest operation Action still open since before `before`, by container id, on one
    node: the ones the reconciliation settles."""
    records = session.scalars(
        select(ActionRecord)
        .join(Container, ActionRecord.container_id == Container.id)
        .where(
            Container.node_id == node_id,
            ActionRecord.operation.in_([action.value for action in Action]),
            ActionRecord.state.in_([state.value for state in OPEN_ACTION_STATES]),
            ActionRecord.start_date < before,
        )
        .order_by(ActionRecord.id)
    )
    return {record.container_id: record for record in records if record.container_id}


def mark_canceled(session: Session, *, action: ActionRecord) -> bool:
    """Pending -> Canceled, unless a node agent claimed it first."""
    return _move(
        session,
        action.uuid,
        {ActionState.PENDING},
        state=ActionState.CANCELED.value,
        reason="canceled before the node started it",
        end_date=utcnow(),
    )


def reopen(session: Session, *, action: ActionRecord, rollback_state: State) -> bool:
    """Failed -> Pending for a retry, keeping the action's identity for clients tracking it."""
    return _move(
        session,
        action.uuid,
        {ActionState.FAILED},
        state=ActionState.PENDING.value,
        reason=None,
        end_date=None,
        rollback_state=rollback_state.value,
    )


def get_action(session: Session, *, owner_id: int, uuid: str) -> ActionRecord:
    record = session.scalar(
        select(ActionRecord).where(ActionRecord.uuid == uuid, ActionRecord.owner_id == owner_id)
    )
    if record is None:
        raise ActionNotFoundError(ident=uuid)
    return record


def list_actions(
    session: Session, *, owner_id: int, filters: ActionFilters, limit: int, offset: int
) -> tuple[list[ActionRecord], int]:
    """The owner's actions, newest first, as the old services listed them: the CLIs print the
    first page as "the last N actions" (`tutum action ls -l N`, `docker-cloud action ls`).

    Ordered by the id alone, which grows with every action and is unique, so no two actions
    tie and the same request over the same actions answers the same page; read backwards
    through ix_actions_owner_order (owner_id, id), so a page reads only its own rows, unsorted.
    """
    query = select(ActionRecord).where(ActionRecord.owner_id == owner_id)
    if filters.object_uuid is not None:
        query = query.where(_about(session, owner_id, filters.object_uuid))
    if filters.uuid_prefix:  # an empty prefix matches every action: no condition at all
        # As a subquery, so the prefix is read as a range of the unique uuid index (only the
        # actions with that prefix, then the owner's of them): as a plain condition SQLite
        # would walk all of the owner's actions in list order instead, to save the sort.
        prefixed = select(ActionRecord.id).where(
            uuid_prefix(ActionRecord.uuid, filters.uuid_prefix)
        )
        query = query.where(ActionRecord.id.in_(prefixed))
    if filters.state is not None:
        query = query.where(ActionRecord.state == filters.state)
    if filters.start_after is not None:
        query = query.where(ActionRecord.start_date >= filters.start_after)
    if filters.start_before is not None:
        query = query.where(ActionRecord.start_date <= filters.start_before)
    if filters.end_after is not None:
        query = query.where(ActionRecord.end_date >= filters.end_after)
    if filters.end_before is not None:
        query = query.where(ActionRecord.end_date <= filters.end_before)
    return page(session, query, ActionRecord.id.desc(), limit=limit, offset=offset)


def _about(session: Session, owner_id: int, uuid: str) -> ColumnElement[bool]:
    """Actions whose object (the owner's container, service or stack) has this uuid. The
    object is looked up first, so the list reads one index of one column (an OR of the three
    would read all three and sort)."""
    for column, model in (
        (ActionRecord.container_id, Container),
        (ActionRecord.service_id, Service),
        (ActionRecord.stack_id, Stack),
    ):
        found = session.scalar(
            select(model.id).where(model.uuid == uuid, model.owner_id == owner_id)
        )
        if found is not None:
            return column == found
    return false()


def _move(
    session: Session,
    action_uuid: str,
    sources: set[ActionState] | frozenset[ActionState],
    *,
    container_id: int | None = None,
    **values: object,
) -> bool:
    query = update(ActionRecord).where(
        ActionRecord.uuid == action_uuid, ActionRecord.state.in_([s.value for s in sources])
    )
    if container_id is not None:
        query = query.where(ActionRecord.container_id == container_id)
    result = session.execute(query.values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]
