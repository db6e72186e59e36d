"""How many objects are in each state, for the API's metrics (`controlplane.api.metrics`): one
`GROUP BY` per table, read when Prometheus scrapes."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from controlplane.core.lifecycle import ActionState, NodeState, State
from controlplane.db.models import ActionRecord, Container, Node


def by_state(session: Session) -> dict[str, dict[str, int]]:
    """Containers, nodes and actions by state, every state present (0 when none is in it), so a
    rate or an alert never meets a series that is missing rather than zero."""
    return {
        "containers": _tally(session, Container.state, State),
        "nodes": _tally(session, Node.state, NodeState),
        "actions": _tally(session, ActionRecord.state, ActionState),
    }


def _tally(
    session: Session, column: InstrumentedAttribute[str], states: type[StrEnum]
) -> dict[str, int]:
    counts = dict.fromkeys((state.value for state in states), 0)
    counted = session.execute(select(column, func.count()).group_by(column))
    counts.update({state: count for state, count in counted})
    return counts


def node_uuids(session: Session) -> list[str]:
    return list(session.scalars(select(Node.uuid)))
