"""Database access: engine set-up, queries and the conditional updates that enforce the lifecycle.

Every state change is one UPDATE whose WHERE clause repeats the state it expects, so two racing
writers (two API requests, or an API request and a report) cannot both win: the loser sees a
row count of zero. Functions take the session and keyword-only arguments and raise domain errors;
callers own the transaction boundaries only where they must also talk to the broker.
"""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from controlplane import lifecycle
from controlplane.errors import (
    ActionNotFoundError,
    ContainerNotFoundError,
    NodeNotFoundError,
    TransitionRefusedError,
)
from controlplane.lifecycle import Action, ActionState, State
from controlplane.messages import ContainerReport, NodeReport
from controlplane.models import ActionRecord, Container, Node

NODE_DEPLOYED = "Deployed"

# How often a conditional update is retried when another writer changed the row in between.
_TRANSITION_ATTEMPTS = 3


def utcnow() -> datetime:
    """Naive UTC now, the form every datetime column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def from_ns(observed_ns: int) -> datetime:
    return datetime.fromtimestamp(observed_ns / 1e9, UTC).replace(tzinfo=None)


def new_uuid() -> str:
    return str(uuid_lib.uuid4())


class Database:
    """An engine and its session factory, configured for the URL's backend."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that is rolled back unless the caller committed, and always closed."""
        session = self.sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN itself (pysqlite's own BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is locked"
    # when another writer committed in between (WAL snapshots cannot be upgraded), and the busy
    # timeout does not help. Taking the write lock up front makes writers queue instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


# --- nodes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeLoad:
    """A deployed node and how many live containers it holds, for the scheduler."""

    id: int
    uuid: str
    name: str
    containers: int


def deployed_node_loads(session: Session) -> list[NodeLoad]:
    live = (
        select(Container.node_id, func.count().label("n"))
        .where(Container.state != State.TERMINATED.value)
        .group_by(Container.node_id)
        .subquery()
    )
    rows = session.execute(
        select(Node.id, Node.uuid, Node.name, func.coalesce(live.c.n, 0))
        .outerjoin(live, live.c.node_id == Node.id)
        .where(Node.state == NODE_DEPLOYED)
    )
    return [NodeLoad(id=r[0], uuid=r[1], name=r[2], containers=r[3]) for r in rows]


def apply_node_report(session: Session, report: NodeReport) -> tuple[Node, str | None]:
    """Register a node or refresh its facts; a node that reports is Deployed.

    Returns the node and the state it had before, None when this report registered it, so the
    caller can tell a registration and a state change from a plain heartbeat.
    """
    node = session.scalar(select(Node).where(Node.uuid == report.node_uuid))
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
    node.observed_ns = max(node.observed_ns or 0, report.observed_ns)
    node.last_seen = now
    session.commit()
    return node, previous


def list_nodes(session: Session, *, limit: int, offset: int) -> tuple[list[Node], int]:
    query = select(Node)
    return _page(session, query, Node.id, limit=limit, offset=offset)


def get_node(session: Session, *, uuid: str) -> Node:
    node = session.scalar(select(Node).where(Node.uuid == uuid))
    if node is None:
        raise NodeNotFoundError(ident=uuid)
    return node


def count_live_containers(session: Session, *, node_id: int) -> int:
    query = select(func.count()).where(
        Container.node_id == node_id, Container.state != State.TERMINATED.value
    )
    return session.scalar(query) or 0


# --- containers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestInfo:
    """What the audit trail records about the API call behind an action."""

    method: str
    path: str
    user_agent: str
    ip: str
    body: str


@dataclass(frozen=True)
class ContainerFilters:
    state: str | None = None
    name: str | None = None
    unique_name: str | None = None
    uuid: str | None = None
    uuid_prefix: str | None = None
    node_uuid: str | None = None


ACTION_NAMES = {
    "create": "Container Create",
    Action.START: "Container Start",
    Action.STOP: "Container Stop",
    Action.TERMINATE: "Container Terminate",
}


def insert_container(
    session: Session, *, owner_id: int, node_id: int, fields: dict[str, Any], request: RequestInfo
) -> tuple[Container, ActionRecord]:
    """Record a new container in Init with its (already finished) create Action, atomically."""
    now = utcnow()
    container = Container(
        owner_id=owner_id, node_id=node_id, state=State.INIT.value, created_at=now, **fields
    )
    session.add(container)
    session.flush()
    action = _new_action(
        session, container, "create", request, state=ActionState.SUCCESS, end_date=now
    )
    session.commit()
    return container, action


def get_container(session: Session, *, owner_id: int, uuid: str) -> Container:
    container = session.scalar(
        select(Container).where(Container.uuid == uuid, Container.owner_id == owner_id)
    )
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
        query = query.where(Container.uuid.startswith(filters.uuid_prefix, autoescape=True))
    if filters.node_uuid is not None:
        query = query.join(Node).where(Node.uuid == filters.node_uuid)
    return _page(session, query, Container.id, limit=limit, offset=offset)


def begin_action(
    session: Session, *, owner_id: int, uuid: str, action: Action, request: RequestInfo
) -> tuple[Container, ActionRecord, State]:
    """Accept `action` on a container: move it to its transitional state and open an Action.

    Returns the container, the Action and the stable state it left (the rollback state the node
    sends back if the operation fails). The state check and the write are one UPDATE, so of two
    racing requests exactly one wins; the other is refused and changes nothing.

    Raises:
        ContainerNotFoundError: no such container for this owner.
        TransitionRefusedError: the current state does not allow the action.
    """
    for _ in range(_TRANSITION_ATTEMPTS):
        container = get_container(session, owner_id=owner_id, uuid=uuid)
        current = State(container.state)
        if not lifecycle.is_allowed(current, action):
            raise TransitionRefusedError(action=action.value, uuid=uuid, state=current.value)
        result = session.execute(
            update(Container)
            .where(Container.id == container.id, Container.state == current.value)
            .values(state=lifecycle.target_state(action).value)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            record = _new_action(session, container, action, request, state=ActionState.IN_PROGRESS)
            session.commit()
            session.refresh(container)
            return container, record, current
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
    _finish_action(session, action_uuid=action.uuid, error=reason)
    session.commit()


@dataclass(frozen=True)
class ReportOutcome:
    """What applying a report changed: the container's state, and the Action it closed."""

    container: Container | None = None
    changed: bool = False
    finished_action: ActionRecord | None = None


def apply_container_report(session: Session, report: ContainerReport) -> ReportOutcome:
    """Apply what a node observed, and say what changed (for the events it causes).

    Stale and duplicate reports (not newer than the last applied observation) leave the
    container as it is, but still close their Action if it is open, so a lost race between two
    deliveries never leaves an Action "In progress" forever.
    """
    container = session.scalar(select(Container).where(Container.uuid == report.container_uuid))
    if container is None:
        return ReportOutcome()
    changed = False
    if lifecycle.accepts_report(
        current=State(container.state),
        last_observed_ns=container.observed_ns,
        reported=report.observed_state,
        observed_ns=report.observed_ns,
    ):
        result = session.execute(
            update(Container)
            .where(
                Container.id == container.id,
                Container.state == container.state,
                or_(Container.observed_ns.is_(None), Container.observed_ns < report.observed_ns),
            )
            .values(**_observation_values(container, report))
            .execution_options(synchronize_session=False)
        )
        changed = result.rowcount == 1  # type: ignore[attr-defined]
    finished = None
    if report.action_uuid is not None and _finish_action(
        session, action_uuid=report.action_uuid, error=report.error
    ):
        # populate_existing: the UPDATE bypassed the session, which may hold the record already.
        finished = session.scalar(
            select(ActionRecord)
            .where(ActionRecord.uuid == report.action_uuid)
            .execution_options(populate_existing=True)
        )
    session.commit()
    if changed:
        session.refresh(container)
    return ReportOutcome(container=container, changed=changed, finished_action=finished)


def _observation_values(container: Container, report: ContainerReport) -> dict[str, Any]:
    when = from_ns(report.observed_ns)
    values: dict[str, Any] = {"state": report.state, "observed_ns": report.observed_ns}
    if report.docker_id is not None:
        values["docker_id"] = report.docker_id
    state = report.observed_state
    if state is State.RUNNING:
        values["started_datetime"] = when
        values["exit_code"] = None
        if container.deployed_datetime is None:
            values["deployed_datetime"] = when
    elif state is State.STOPPED and report.error is None:
        values["stopped_datetime"] = when
        values["exit_code"] = report.exit_code
    elif state is State.TERMINATED:
        values["destroyed_datetime"] = when
    return values


# --- actions -------------------------------------------------------------------------------


def _new_action(
    session: Session,
    container: Container,
    operation: Action | str,
    request: RequestInfo,
    *,
    state: ActionState,
    end_date: datetime | None = None,
) -> ActionRecord:
    record = ActionRecord(
        uuid=new_uuid(),
        owner_id=container.owner_id,
        container_id=container.id,
        name=ACTION_NAMES[operation],
        method=request.method,
        path=request.path,
        user_agent=request.user_agent,
        ip=request.ip,
        body=request.body,
        state=state.value,
        start_date=utcnow(),
        end_date=end_date,
    )
    session.add(record)
    session.flush()
    return record


def _finish_action(session: Session, *, action_uuid: str, error: str | None) -> bool:
    """Close an open Action; False when it was already closed (a redelivered report)."""
    state = ActionState.FAILED if error else ActionState.SUCCESS
    result = session.execute(
        update(ActionRecord)
        .where(
            ActionRecord.uuid == action_uuid,
            ActionRecord.state == ActionState.IN_PROGRESS.value,
        )
        .values(state=state.value, reason=error, end_date=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def get_action(session: Session, *, owner_id: int, uuid: str) -> ActionRecord:
    record = session.scalar(
        select(ActionRecord).where(ActionRecord.uuid == uuid, ActionRecord.owner_id == owner_id)
    )
    if record is None:
        raise ActionNotFoundError(ident=uuid)
    return record


def list_actions(
    session: Session,
    *,
    owner_id: int,
    limit: int,
    offset: int,
    container_uuid: str | None = None,
    state: str | None = None,
) -> tuple[list[ActionRecord], int]:
    query = select(ActionRecord).where(ActionRecord.owner_id == owner_id)
    if container_uuid is not None:
        query = query.join(Container).where(Container.uuid == container_uuid)
    if state is not None:
        query = query.where(ActionRecord.state == state)
    return _page(session, query, ActionRecord.id, limit=limit, offset=offset)


def _page(
    session: Session, query: Any, order: Any, *, limit: int, offset: int
) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.order_by(order).limit(limit).offset(offset)).unique().all()
    return list(rows), total
