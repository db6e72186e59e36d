"""Containers and nodes: queries and the conditional updates that enforce the lifecycle.

Every state change is one UPDATE whose WHERE clause repeats the state it expects, so two racing
writers (two API requests, or an API request and a report) cannot both win: the loser sees a
row count of zero. Functions take the session and keyword-only arguments and raise domain errors;
callers own the transaction boundaries only where they must also talk to the broker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from controlplane import audit, lifecycle
from controlplane.audit import RequestInfo
from controlplane.database import from_ns, page, utcnow
from controlplane.errors import (
    ActionNotCancelableError,
    ActionNotRetriableError,
    ContainerNotFoundError,
    NodeNotFoundError,
    NodeUnreachableError,
    TransitionRefusedError,
)
from controlplane.lease import NodeState
from controlplane.lifecycle import Action, ActionState, State
from controlplane.messages import ContainerReport, NodeReport
from controlplane.models import ActionRecord, Container, Node

NODE_DEPLOYED = NodeState.DEPLOYED.value

# How often a conditional update is retried when another writer changed the row in between.
_TRANSITION_ATTEMPTS = 3

# Containers that are not Terminated. The state is written into the SQL, not bound: SQLite uses
# the partial index of live containers (models.LIVE_CONTAINERS) only for a query whose WHERE
# clause holds the index's own condition, literally.
LIVE = Container.state != literal_column(f"'{State.TERMINATED.value}'")

# What a uuid is made of, as generated (`database.new_uuid`): lower-case hex digits and dashes.
_UUID_CHARACTERS = re.compile(r"[0-9a-f-]*")


# --- nodes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeLoad:
    """A node, its state and tags, and how many live containers it holds, for the scheduler."""

    id: int
    uuid: str
    name: str
    state: str
    tags: frozenset[str]
    containers: int


def _node_loads_query() -> Any:
    live = (
        select(Container.node_id, func.count().label("n"))
        .where(LIVE)
        .group_by(Container.node_id)
        .subquery()
    )
    return (
        select(Node.id, Node.uuid, Node.name, Node.state, Node.tags, func.coalesce(live.c.n, 0))
        .outerjoin(live, live.c.node_id == Node.id)
        .order_by(Node.id)
    )


# Built once: every create runs it, and building it (and its cache key) cost as much as the
# query itself.
_NODE_LOADS = _node_loads_query()


def node_loads(session: Session) -> list[NodeLoad]:
    """Every node with its load; the scheduler, not the query, decides which may take more, so
    it can say why none can (unreachable, or no such tags)."""
    rows = session.execute(_NODE_LOADS)
    return [
        NodeLoad(id=r[0], uuid=r[1], name=r[2], state=r[3], tags=frozenset(r[4]), containers=r[5])
        for r in rows
    ]


def apply_node_report(session: Session, report: NodeReport) -> tuple[Node, str | None]:
    """Register a node or refresh its facts; a node that reports is Deployed.

    Returns the node and the state it had before, None when this report registered it, so the
    caller can tell a registration and a state change from a plain heartbeat.
    """
    # Locked (on PostgreSQL; SQLite's write lock already covers the transaction) so a lease
    # sweep cannot mark the node Unreachable between this read and the commit, which would hide
    # the change back to Deployed from `previous`.
    node = session.scalar(select(Node).where(Node.uuid == report.node_uuid).with_for_update())
    now = utcnow()
    previous = None if node is None else node.state
    if node is None:
        node = Node(uuid=report.node_uuid, deployed_datetime=now)
        session.add(node)
    node.name = report.name
    node.state = NODE_DEPLOYED
    node.docker_version = report.docker_version
    node.cpu = report.cpu
    node.memory_mb = report.memory_mb
    node.disk_gb = report.disk_gb
    node.tags = sorted(set(report.tags))
    node.observed_ns = max(node.observed_ns or 0, report.observed_ns)
    node.last_seen = now
    session.commit()
    return node, previous


def expire_node_leases(session: Session, *, cutoff: datetime) -> list[Node]:
    """Mark Unreachable every Deployed node last seen before `cutoff`, and return them.

    Each node moves with its own conditional UPDATE that repeats both conditions, so when several
    reporters sweep at once exactly one of them moves (and announces) each node, and a heartbeat
    applied in between (a fresh `last_seen`) keeps the node Deployed.
    """
    expired = session.scalars(
        select(Node).where(Node.state == NODE_DEPLOYED, Node.last_seen < cutoff)
    ).all()
    moved = []
    for node in expired:
        result = session.execute(
            update(Node)
            .where(Node.id == node.id, Node.state == NODE_DEPLOYED, Node.last_seen < cutoff)
            .values(state=NodeState.UNREACHABLE.value)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(node)
            moved.append(node)
    session.commit()
    return moved


def list_nodes(
    session: Session,
    *,
    limit: int,
    offset: int,
    state: str | None = None,
    uuid: str | None = None,
    uuid_prefix: str | None = None,
) -> tuple[list[Node], int]:
    """Nodes in registration order. `uuid_prefix` is how the SDKs resolve a short node id
    (`Utils.fetch_remote_node`), so it must narrow the list, never be ignored."""
    query = select(Node)
    if state is not None:
        query = query.where(Node.state == state)
    if uuid is not None:
        query = query.where(Node.uuid == uuid)
    if uuid_prefix is not None:
        query = query.where(Node.uuid.startswith(uuid_prefix, autoescape=True))
    return page(session, query, Node.id, limit=limit, offset=offset)


def get_node(session: Session, *, uuid: str) -> Node:
    node = session.scalar(select(Node).where(Node.uuid == uuid))
    if node is None:
        raise NodeNotFoundError(ident=uuid)
    return node


def require_reachable(node: Node) -> None:
    """Refuse at once what only the node could do, while its agent is silent: the operation
    would wait in its queue, and the container in a transitional state, for as long as it is.

    Raises:
        NodeUnreachableError: the node is not Deployed.
    """
    if node.state != NODE_DEPLOYED:
        raise NodeUnreachableError(node=node.uuid, state=node.state)


def count_live_containers(session: Session, *, node_id: int) -> int:
    query = select(func.count()).where(Container.node_id == node_id, LIVE)
    return session.scalar(query) or 0


# --- containers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerFilters:
    state: str | None = None
    name: str | None = None
    unique_name: str | None = None
    uuid: str | None = None
    uuid_prefix: str | None = None
    node_uuid: str | None = None
    # Containers here are never part of a service or stack, so asking for a service's (or a
    # stack's) containers matches none rather than being ignored and matching all.
    in_service: bool = False


def insert_container(
    session: Session, *, owner_id: int, node_id: int, fields: dict[str, Any], request: RequestInfo
) -> tuple[Container, ActionRecord]:
    """Record a new container in Init with its (already finished) create Action, atomically.

    The container comes back with its node loaded, so the answer and the events read nothing
    after the commit (which would begin another transaction, see `begin_action`).
    """
    now = utcnow()
    container = Container(
        owner_id=owner_id,
        node_id=node_id,
        node=session.get(Node, node_id),
        state=State.INIT.value,
        created_at=now,
        **fields,
    )
    session.add(container)
    session.flush()
    action = audit.new_action(session, container, audit.CREATE, request, state=ActionState.SUCCESS)
    session.commit()
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
        query = query.where(uuid_prefix(filters.uuid_prefix))
    if filters.node_uuid is not None:
        query = query.join(Node).where(Node.uuid == filters.node_uuid)
    if filters.in_service:
        query = query.where(false())
    return page(session, query, Container.id, limit=limit, offset=offset)


def uuid_prefix(prefix: str) -> ColumnElement[bool]:
    """Containers whose uuid starts with `prefix`, in any case (the SDKs' short ids).

    A LIKE cannot use an index on SQLite (it ignores case there), so the prefix is also given
    as a range, `prefix <= uuid < prefix + "g"`, which the owner's uuid index answers: a uuid
    holds nothing above "f". The LIKE stays, so the answer is exact under any collation; a
    prefix that no uuid can start with matches nothing.
    """
    prefix = prefix.lower()
    if not _UUID_CHARACTERS.fullmatch(prefix):
        return false()
    return and_(
        Container.uuid >= prefix,
        Container.uuid < prefix + "g",
        Container.uuid.startswith(prefix, autoescape=True),
    )


def begin_action(
    session: Session, *, owner_id: int, uuid: str, action: Action, request: RequestInfo
) -> tuple[Container, ActionRecord, State]:
    """Accept `action` on a container: move it to its transitional state and open a Pending
    Action that remembers the stable state left behind (where a failure or a cancel returns).

    Raises:
        ContainerNotFoundError: no such container for this owner.
        TransitionRefusedError: the current state does not allow the action.
    """
    container, current = _transition(session, owner_id=owner_id, uuid=uuid, action=action)
    record = audit.new_action(
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
    session.commit()
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
    record = audit.get_action(session, owner_id=owner_id, uuid=uuid)
    if record.state != ActionState.FAILED.value or record.operation not in set(Action):
        raise ActionNotRetriableError(uuid=uuid, state=record.state)
    action = Action(record.operation)
    container, current = _transition(
        session, owner_id=owner_id, uuid=record.container.uuid, action=action
    )
    if not audit.reopen(session, action=record, rollback_state=current):
        session.rollback()
        raise ActionNotRetriableError(uuid=uuid, state=record.state)
    session.refresh(container)  # before the commit, as in begin_action
    session.refresh(record)
    session.commit()
    return container, record, current


def cancel_action(session: Session, *, owner_id: int, uuid: str) -> ActionRecord:
    """Cancel a Pending action before its node agent claims it, and return its container to
    the state it was accepted from. Once claimed (In progress) it can no longer be canceled.

    Raises:
        ActionNotFoundError: no such action for this owner.
        ActionNotCancelableError: the action is not Pending (any more).
    """
    record = audit.get_action(session, owner_id=owner_id, uuid=uuid)
    if not audit.mark_canceled(session, action=record):
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
    return record


def _transition(
    session: Session, *, owner_id: int, uuid: str, action: Action
) -> tuple[Container, State]:
    """Move a container to `action`'s transitional state with one conditional UPDATE (not yet
    committed). Of two racing requests exactly one wins; the other is refused."""
    for _ in range(_TRANSITION_ATTEMPTS):
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
    audit.finish_action(session, action_uuid=action.uuid, error=reason)
    session.commit()


@dataclass(frozen=True)
class ReportOutcome:
    """What applying a report changed: the container's state, and the Action it closed."""

    container: Container | None = None
    changed: bool = False
    finished_action: ActionRecord | None = None


def apply_container_report(session: Session, report: ContainerReport) -> ReportOutcome:
    """Apply what a node observed, commit, and say what changed (for the events it causes)."""
    return apply_container_reports(session, [report])[0]


def apply_container_reports(
    session: Session, reports: list[ContainerReport]
) -> list[ReportOutcome]:
    """Apply a batch of observations in one transaction: a burst of hundreds of changes costs
    one query for the records and one commit instead of hundreds. Each report is still judged
    on its own observation time, in order, so two reports on one container in a batch apply as
    they would one after the other."""
    uuids = {report.container_uuid for report in reports}
    known = {
        container.uuid: container
        for container in session.scalars(select(Container).where(Container.uuid.in_(uuids)))
    }
    outcomes = [
        observe_container(session, report, known.get(report.container_uuid)) for report in reports
    ]
    session.commit()
    return outcomes


def observe_container(
    session: Session, report: ContainerReport, container: Container | None
) -> ReportOutcome:
    """Apply what a node observed to `container` (its record, None if unknown) without
    committing: a batch or a relist applies many in one transaction.

    Stale and duplicate reports (not newer than the last applied observation) leave the
    container as it is, but still close their Action if it is open, so a lost race between two
    deliveries never leaves an Action "In progress" forever.
    """
    if container is None:
        return ReportOutcome()
    changed = False
    if lifecycle.accepts_report(
        current=State(container.state),
        last_observed_ns=container.observed_ns,
        reported=report.observed_state,
        observed_ns=report.observed_ns,
    ):
        values = _observation_values(container, report)
        result = session.execute(
            update(Container)
            .where(
                Container.id == container.id,
                Container.state == container.state,
                or_(Container.observed_ns.is_(None), Container.observed_ns < report.observed_ns),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        changed = result.rowcount == 1  # type: ignore[attr-defined]
        if changed:
            keep_in_step(container, values)
    finished = None
    if report.action_uuid is not None and audit.finish_action(
        session, action_uuid=report.action_uuid, error=report.error
    ):
        # populate_existing: the UPDATE bypassed the session, which may hold the record already.
        finished = session.scalar(
            select(ActionRecord)
            .where(ActionRecord.uuid == report.action_uuid)
            .execution_options(populate_existing=True)
        )
    return ReportOutcome(container=container, changed=changed, finished_action=finished)


def keep_in_step(container: Container, values: dict[str, Any]) -> None:
    """After an UPDATE that bypassed the session, set the loaded record to the row's new values
    (as if loaded), so the next report of a batch is judged on them and events read them."""
    for key, value in values.items():
        set_committed_value(container, key, value)


def _observation_values(container: Container, report: ContainerReport) -> dict[str, Any]:
    """The columns an observation sets. A reason is kept only for a change that left a stable
    state: from a transitional state the change is the outcome of the control plane's own
    operation (its terminate's removal, its stop), which needs no explaining."""
    return observation_values(
        report,
        first_deploy=container.deployed_datetime is None,
        out_of_band=State(container.state) in lifecycle.STABLE_STATES,
    )


def observation_values(
    report: ContainerReport, *, first_deploy: bool, out_of_band: bool
) -> dict[str, Any]:
    """The columns an observation sets on a container record (see `_observation_values`)."""
    reason = report.reason if out_of_band else None
    when = from_ns(report.observed_ns)
    values: dict[str, Any] = {"state": report.state, "observed_ns": report.observed_ns}
    if report.docker_id is not None:
        values["docker_id"] = report.docker_id
    if report.ports is not None:
        values["bound_ports"] = report.ports
    state = report.observed_state
    if state is State.RUNNING:
        values["started_datetime"] = when
        values["exit_code"] = None
        values["state_reason"] = None
        if first_deploy:
            values["deployed_datetime"] = when
    elif state is State.STOPPED and report.error is None:
        values["stopped_datetime"] = when
        values["exit_code"] = report.exit_code
        values["state_reason"] = reason
    elif state is State.TERMINATED:
        values["destroyed_datetime"] = when
        values["state_reason"] = reason
    return values
