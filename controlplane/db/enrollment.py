"""Node credentials: enrolling a node, rotating and revoking its credential.

A node exists only once an operator enrolled it (`controlplane node add`): its agent's reports
are refused until then, and a node nobody enrolled is never created by a report. The database
holds no secret: a node's key is derived from the control plane's secret key and the node's key
generation (`controlplane.core.signing.node_key`), so rotating is a new generation and revoking
a flag. Both are the operator's intent, written here by the CLI; a revocation also marks the
node Unreachable, the one write of a node's state outside the reporter, since no heartbeat of
that node will ever be accepted again to say otherwise.
"""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from controlplane.core.errors import InvalidInputError, NodeNotFoundError
from controlplane.core.lifecycle import NodeState
from controlplane.db.engine import new_uuid, utcnow
from controlplane.db.models import Node

NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def enroll(session: Session, name: str) -> Node:
    """A new node called `name`, Deploying until its agent reports (committed).

    Raises:
        InvalidInputError: the name is not a host-like name, or a node has it already.
    """
    if not NODE_NAME.match(name):
        raise InvalidInputError(
            "name", "must be 1 to 63 letters, digits, _ . - starting with a letter or digit"
        )
    if session.scalar(select(Node.id).where(Node.name == name)) is not None:
        raise InvalidInputError(
            "name",
            f"a node called {name} exists; `controlplane node rotate {name}` issues a new token",
        )
    now = utcnow()
    node = Node(
        uuid=new_uuid(),
        name=name,
        state=NodeState.DEPLOYING.value,
        deployed_datetime=now,
        last_seen=now,
        key_generation=1,
        revoked=False,
    )
    session.add(node)
    session.commit()
    return node


def find_node(session: Session, ident: str) -> Node:
    """The node whose uuid or name is `ident`.

    Raises:
        NodeNotFoundError: none is.
    """
    node = session.scalar(select(Node).where((Node.uuid == ident) | (Node.name == ident)))
    if node is None:
        raise NodeNotFoundError(ident=ident)
    return node


def rotate(session: Session, node: Node) -> Node:
    """Start a new generation of the node's credential (committed): the old token stops working
    at once, and a revoked node is enrolled again."""
    session.execute(
        update(Node)
        .where(Node.id == node.id)
        .values(key_generation=Node.key_generation + 1, revoked=False)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(node)
    return node


def revoke(session: Session, node: Node) -> Node:
    """Refuse every message of the node from now on, and take it out of placement (committed)."""
    node.revoked = True
    node.state = NodeState.UNREACHABLE.value
    session.commit()
    return node


def key_generations(session: Session, node_uuids: list[str]) -> dict[str, int]:
    """`key_generation` of many nodes in one query; the unknown and revoked are left out."""
    rows = session.execute(
        select(Node.uuid, Node.key_generation).where(
            Node.uuid.in_(node_uuids), Node.revoked.is_(False)
        )
    )
    return {uuid: generation for uuid, generation in rows}


def key_generation(session: Session, *, node_uuid: str) -> int | None:
    """The generation of the node's credential; None for a node unknown or revoked."""
    return session.scalar(
        select(Node.key_generation).where(Node.uuid == node_uuid, Node.revoked.is_(False))
    )
