"""Placement: which node a new container goes to, and how many containers a service keeps.

Pure: it chooses among plain snapshots (`controlplane.db.nodes.NodeLoad`) so the rule can be
tested without a database and swapped without touching the API. Only a Deployed node is ever
chosen; a create may name its node, ask for tags (the node must have every one), or both. When
no node qualifies the error says why, so an operator can tell "start an agent" from "nobody has
that tag".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

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


# How a service spreads its containers (the old APIs' deployment_strategy).
EMPTIEST_NODE = "EMPTIEST_NODE"
HIGH_AVAILABILITY = "HIGH_AVAILABILITY"
EVERY_NODE = "EVERY_NODE"
STRATEGIES = (EMPTIEST_NODE, HIGH_AVAILABILITY, EVERY_NODE)


def place_service_containers(
    candidates: Sequence[C],
    count: int,
    *,
    strategy: str,
    held: Mapping[str, int],
    request: PlacementRequest | None = None,
) -> list[C]:
    """Nodes for `count` new containers of one service, one per container, in order.

    `held` counts the service's live containers by node uuid. EMPTIEST_NODE picks the Deployed
    node with the fewest live containers of anyone's for each in turn; HIGH_AVAILABILITY first
    the node with the fewest of this service's, so the service spreads across nodes; EVERY_NODE
    only nodes without one of the service's, so it gets one per node (fewer than `count` when
    nodes run out). Each pick counts as a container on its node for the next.

    Raises:
        NoNodeAvailableError, InvalidInputError, NodeUnreachableError: as `choose_node`, when
            not even the first container has a node.
    """
    loads = {node.uuid: node.containers for node in candidates}
    mine = dict(held)
    chosen: list[C] = []
    for _ in range(count):
        pool = list(candidates)
        if strategy == EVERY_NODE:
            pool = [node for node in pool if not mine.get(node.uuid)]
            if not pool:
                break
        try:
            node = _least_loaded(pool, request, loads, mine, spread=strategy != EMPTIEST_NODE)
        except NoNodeAvailableError:
            if chosen:  # EVERY_NODE ran out of nodes
                break
            raise
        chosen.append(node)
        loads[node.uuid] += 1
        mine[node.uuid] = mine.get(node.uuid, 0) + 1
    return chosen


def service_target(
    strategy: str,
    target: int,
    tags: Collection[str],
    candidates: Sequence[Candidate],
    held: Collection[str],
) -> int:
    """How many containers a service keeps: its `target`, but under EVERY_NODE one per Deployed
    node with all its `tags`, plus one per node in `held` (the uuids of the nodes its live
    containers are on) that is not such a node now: a lost node's container still counts, so
    the loss of a node never makes a duplicate."""
    if strategy != EVERY_NODE:
        return target
    wanted = set(tags)
    eligible = {
        node.uuid
        for node in candidates
        if node.state == NodeState.DEPLOYED.value and wanted <= set(node.tags)
    }
    return len(eligible) + len(set(held) - eligible)


def _least_loaded(
    pool: Sequence[C],
    request: PlacementRequest | None,
    loads: Mapping[str, int],
    mine: Mapping[str, int],
    *,
    spread: bool,
) -> C:
    """`choose_node`'s pick (and errors) with the loads of this placement so far."""
    eligible = [_Loaded(node, loads[node.uuid], mine.get(node.uuid, 0), spread) for node in pool]
    return choose_node(eligible, request).node


@dataclass(frozen=True)
class _Loaded(Generic[C]):
    """A candidate whose `containers` is the sort key of the strategy: (this service's, all)
    when spreading, else all."""

    node: C
    load: int
    own: int
    spread: bool

    @property
    def uuid(self) -> str:
        return self.node.uuid

    @property
    def state(self) -> str:
        return self.node.state

    @property
    def tags(self) -> Collection[str]:
        return self.node.tags

    @property
    def containers(self) -> int:
        # Lexicographic (own, load) as one integer: loads stay far below 2**32.
        return (self.own << 32) + self.load if self.spread else self.load
