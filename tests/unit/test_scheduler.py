"""Placement: the emptiest Deployed node that has what the create asks for, or a reason why not."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from controlplane.core.errors import InvalidInputError, NodeUnreachableError, NoNodeAvailableError
from controlplane.core.scheduler import (
    EMPTIEST_NODE,
    EVERY_NODE,
    HIGH_AVAILABILITY,
    PlacementRequest,
    choose_node,
    place_service_containers,
    service_target,
)

A, B, C = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))


@dataclass(frozen=True)
class Snapshot:
    uuid: str
    containers: int
    state: str = "Deployed"
    tags: frozenset[str] = frozenset()


def snap(uuid: str, containers: int, state: str = "Deployed", *tags: str) -> Snapshot:
    return Snapshot(uuid, containers, state, frozenset(tags))


def test_the_node_with_fewest_containers_is_chosen() -> None:
    assert choose_node([snap(A, 3), snap(B, 1), snap(C, 2)]).uuid == B


def test_ties_go_to_the_lowest_uuid() -> None:
    assert choose_node([snap(C, 1), snap(A, 1), snap(B, 1)]).uuid == A


def test_an_unreachable_node_is_never_chosen_even_when_emptiest() -> None:
    assert choose_node([snap(A, 0, "Unreachable"), snap(B, 9)]).uuid == B


def test_a_named_node_is_chosen_even_when_fuller() -> None:
    chosen = choose_node([snap(A, 0), snap(B, 9)], PlacementRequest(node_uuid=B))
    assert chosen.uuid == B


def test_only_a_node_with_every_requested_tag_is_chosen() -> None:
    nodes = [snap(A, 0, "Deployed", "ssd"), snap(B, 5, "Deployed", "ssd", "eu"), snap(C, 1)]
    assert choose_node(nodes, PlacementRequest(tags=frozenset({"ssd", "eu"}))).uuid == B
    assert choose_node(nodes, PlacementRequest(tags=frozenset({"ssd"}))).uuid == A


@pytest.mark.parametrize(
    ("nodes", "request_", "error", "says"),
    [
        ([], PlacementRequest(), NoNodeAvailableError, "start a node agent"),
        ([snap(A, 0, "Unreachable")], PlacementRequest(), NoNodeAvailableError, "unreachable"),
        ([snap(A, 0)], PlacementRequest(node_uuid=B), InvalidInputError, B),
        (
            [snap(A, 0, "Unreachable")],
            PlacementRequest(node_uuid=A),
            NodeUnreachableError,
            "Unreachable",
        ),
        (
            [snap(A, 0, "Deployed", "ssd")],
            PlacementRequest(tags=frozenset({"gpu"})),
            NoNodeAvailableError,
            "no node has all the tags gpu",
        ),
        (
            [snap(A, 0, "Unreachable", "gpu"), snap(B, 0)],
            PlacementRequest(tags=frozenset({"gpu"})),
            NoNodeAvailableError,
            "every node with the tags gpu is unreachable",
        ),
        (
            [snap(A, 0), snap(B, 0, "Deployed", "gpu")],
            PlacementRequest(node_uuid=A, tags=frozenset({"gpu"})),
            NoNodeAvailableError,
            f"node {A} lacks the tags gpu",
        ),
    ],
    ids=[
        "no nodes",
        "all unreachable",
        "unknown named node",
        "named node unreachable",
        "tag nobody has",
        "tagged nodes unreachable",
        "named node without the tag",
    ],
)
def test_when_no_node_qualifies_the_error_says_why(
    nodes: list[Snapshot], request_: PlacementRequest, error: type[Exception], says: str
) -> None:
    with pytest.raises(error) as raised:
        choose_node(nodes, request_)
    assert says in str(raised.value)


def test_an_unknown_named_node_is_bad_input_naming_the_node_field() -> None:
    with pytest.raises(InvalidInputError) as raised:
        choose_node([snap(A, 0)], PlacementRequest(node_uuid=B))
    assert raised.value.field == "node"


# --- a service's containers ------------------------------------------------------------------


def test_emptiest_node_spreads_by_everyone_s_containers() -> None:
    nodes = [snap(A, 5), snap(B, 0), snap(C, 1)]
    chosen = place_service_containers(nodes, 3, strategy=EMPTIEST_NODE, held={})
    assert [node.uuid for node in chosen] == [B, B, C]


def test_high_availability_spreads_the_service_first() -> None:
    nodes = [snap(A, 0), snap(B, 9), snap(C, 9)]
    chosen = place_service_containers(nodes, 3, strategy=HIGH_AVAILABILITY, held={A: 1})
    assert [node.uuid for node in chosen] == [B, C, A]


def test_every_node_places_one_per_node_and_stops_when_nodes_run_out() -> None:
    nodes = [snap(A, 0), snap(B, 0), snap(C, 0, "Unreachable")]
    chosen = place_service_containers(nodes, 5, strategy=EVERY_NODE, held={B: 1})
    assert [node.uuid for node in chosen] == [A]


def test_a_service_s_tags_limit_its_nodes() -> None:
    nodes = [snap(A, 0), snap(B, 3, "Deployed", "ssd")]
    request = PlacementRequest(tags=frozenset({"ssd"}))
    chosen = place_service_containers(nodes, 2, strategy=EMPTIEST_NODE, held={}, request=request)
    assert [node.uuid for node in chosen] == [B, B]
    with pytest.raises(NoNodeAvailableError):
        place_service_containers(
            nodes,
            1,
            strategy=EMPTIEST_NODE,
            held={},
            request=PlacementRequest(tags=frozenset({"gpu"})),
        )


def test_every_node_keeps_one_per_tagged_deployed_node_and_those_on_lost_nodes() -> None:
    nodes = [snap(A, 0, "Deployed", "ssd"), snap(B, 0, "Unreachable", "ssd"), snap(C, 0)]
    assert service_target(EVERY_NODE, 1, {"ssd"}, nodes, held=set()) == 1
    assert service_target(EVERY_NODE, 1, {"ssd"}, nodes, held={A, B}) == 2
    assert service_target(EVERY_NODE, 1, set(), nodes, held={B}) == 3


def test_the_other_strategies_keep_the_service_s_target() -> None:
    nodes = [snap(A, 0), snap(B, 0)]
    assert service_target(EMPTIEST_NODE, 5, set(), nodes, held={A}) == 5
    assert service_target(HIGH_AVAILABILITY, 0, set(), nodes, held=set()) == 0
