"""Placement: which node a new container goes to.

Pure: it chooses among plain snapshots (`controlplane.db.nodes.NodeLoad`) so the rule can be
tested without a database and swapped without touching the API. Only a Deployed node is ever
chosen; a create may name its node, ask for tags (the node must have every one), or both. When
no node qualifies the error says why, so an operator can tell "start an agent" from "nobody has
that tag".
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from controlplane.core.errors import InvalidInputError, NodeUnreachableError, NoNodeAvailableError
from controlplane.core.lifecycle import NodeState


class Candidate(Protocol):
    @property
    def uuid(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def tags(self) -> Collection[str]: ...

    @property
    def containers(self) -> int: ...


C = TypeVar("C", bound=Candidate)


@dataclass(frozen=True)
class PlacementRequest:
    """What a create asks of its node: a particular one (`node_uuid`) and/or these tags."""

    node_uuid: str | None = None
    tags: frozenset[str] = frozenset()


def choose_node(candidates: Sequence[C], request: PlacementRequest | None = None) -> C:
    """The emptiest Deployed node (fewest live containers) that satisfies `request`; ties go to
    the lowest uuid, so the choice is deterministic.

    Raises:
        InvalidInputError: the named node does not exist (field `node`).
        NodeUnreachableError: the named node is not Deployed.
        NoNodeAvailableError: no Deployed node (with the requested tags).
    """
    request = request or PlacementRequest()
    if request.node_uuid is not None:
        candidates = _named(candidates, request.node_uuid)
    tagged = [node for node in candidates if request.tags <= set(node.tags)]
    deployed = [node for node in tagged if node.state == NodeState.DEPLOYED.value]
    if deployed:
        return min(deployed, key=lambda node: (node.containers, node.uuid))
    raise _why_none(candidates, tagged, request)


def _named(candidates: Sequence[C], node_uuid: str) -> list[C]:
    named = [node for node in candidates if node.uuid == node_uuid]
    if not named:
        raise InvalidInputError("node", f"there is no node {node_uuid}")
    if named[0].state != NodeState.DEPLOYED.value:
        raise NodeUnreachableError(node=node_uuid, state=named[0].state)
    return named


def _why_none(
    candidates: Sequence[Candidate], tagged: Sequence[Candidate], request: PlacementRequest
) -> NoNodeAvailableError:
    wanted = ", ".join(sorted(request.tags))
    if not candidates:
        return NoNodeAvailableError()
    if not tagged and request.node_uuid is not None:
        return NoNodeAvailableError(f"node {request.node_uuid} lacks the tags {wanted}")
    if not tagged:
        return NoNodeAvailableError(f"no node has all the tags {wanted}")
    if request.tags:
        return NoNodeAvailableError(f"every node with the tags {wanted} is unreachable")
    return NoNodeAvailableError(
        "every node is unreachable; nothing can be placed until one is back"
    )
