"""Nodes: registration and heartbeats, leases, the scheduler's loads, and node reads.

A node's reachability is observed state: only the reporter moves it (a heartbeat applied, a lease
expired), each time with a conditional UPDATE so two reporters never both announce a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from controlplane.core.errors import (
    NodeNotFoundError,
    NodeUnreachableError,
)
from controlplane.core.lifecycle import NodeState
from controlplane.core.messages import NodeReport
from controlplane.db import engine
from controlplane.db.engine import page, utcnow
from controlplane.db.models import LIVE, LIVE_CONTAINERS, Container, Node

NODE_DEPLOYED = NodeState.DEPLOYED.value


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


def apply_node_report(session: Session, report: NodeReport) -> tuple[Node, str] | None:
    """Refresh an enrolled node's facts; a node that reports is Deployed.

    Returns the node and the state it had before, so the caller can tell the node's first
    report (it was Deploying) and a change of state from a plain heartbeat; None for a node
    that was never enrolled or is revoked, which the reporter refuses before it gets here.
    """
    applied = apply_node_reports(session, [report])
    return applied[0] if applied else None


def apply_node_reports(session: Session, reports: list[NodeReport]) -> list[tuple[Node, str]]:
    """`apply_node_report` for a batch of heartbeats, in one transaction: every enrolled node
    among them with the state it had before (a node's newest report wins when it has several).

    The nodes are read in one query and locked (on PostgreSQL; SQLite's write lock already
    covers the transaction), so a lease sweep cannot mark one Unreachable between this read
    and the commit, which would hide the change back to Deployed from `previous`. Only what a
    heartbeat changed is written: for a node whose facts stay the same, `last_seen` and
    `observed_ns`.
    """
    newest: dict[str, NodeReport] = {}
    for report in reports:
        seen = newest.get(report.node_uuid)
        if seen is None or report.observed_ns >= seen.observed_ns:
            newest[report.node_uuid] = report
    if not newest:
        return []
    found = session.scalars(
        select(Node)
        .where(Node.uuid.in_(sorted(newest)), Node.revoked.is_(False))
        .order_by(Node.id)
        .with_for_update()
    ).all()
    now = utcnow()
    applied = []
    for node in found:
        report = newest[node.uuid]
        applied.append((node, node.state))
        _refresh(node, report, now=now)
    session.commit()
    return applied


def _refresh(node: Node, report: NodeReport, *, now: datetime) -> None:
    """Take a heartbeat's facts; SQLAlchemy writes only the columns whose value changed."""
    node.state = NODE_DEPLOYED
    node.docker_version = report.docker_version
    node.cpu = report.cpu
    node.memory_mb = report.memory_mb
    node.disk_gb = report.disk_gb
    node.tags = sorted(set(report.tags))
    node.observed_ns = max(node.observed_ns or 0, report.observed_ns)
    node.last_seen = now


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
    (`Utils.fetch_remote_node`), so it must narrow the list, never be ignored; it matches in any
    case, as for containers and actions."""
    query = select(Node)
    if state is not None:
        query = query.where(Node.state == state)
    if uuid is not None:
        query = query.where(Node.uuid == uuid)
    if uuid_prefix is not None:
        query = query.where(engine.uuid_prefix(Node.uuid, uuid_prefix))
    return page(session, query, Node.id, limit=limit, offset=offset)


def node_id(session: Session, *, uuid: str) -> int | None:
    return session.scalar(select(Node.id).where(Node.uuid == uuid))


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


# SQLite, without statistics, weighs the partial index of live containers and the full
# (node_id, state) index alike and takes whichever was created first, which a table rebuild
# (migration 0009) leaves to chance; so it is named. SQLAlchemy renders no index hint for
# SQLite, hence the text.
_COUNT_LIVE_SQLITE = text(
    "SELECT count(*) FROM containers INDEXED BY ix_containers_live_node"
    f" WHERE node_id = :node_id AND {LIVE_CONTAINERS}"
)


def count_live_containers(session: Session, *, node_id: int) -> int:
    if session.get_bind().dialect.name == "sqlite":
        return session.scalar(_COUNT_LIVE_SQLITE, {"node_id": node_id}) or 0
    query = select(func.count()).where(Container.node_id == node_id, LIVE)
    return session.scalar(query) or 0
