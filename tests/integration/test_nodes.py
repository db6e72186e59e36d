"""Several real nodes: two extra dockerd daemons on this machine, each with its own agent, beside
the session's node. Placement spreads containers and honours a named node and tags; a node whose
agent stops goes Unreachable, its containers keep their state unsynchronized and refuse actions
at once; the agent's return brings the node back Deployed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.api import ApiClient
from tests.support.containers import node_uuid_of
from tests.support.daemons import ExtraNode
from tests.support.plane import Plane
from tests.support.streams import connect, is_about, read_until

pytestmark = pytest.mark.integration

SLEEPER = 'sh -c "exec sleep 3600"'


def deployed_loads(client: ApiClient) -> dict[str, int]:
    nodes = client.request("GET", "/api/v1/node/", params={"state": "Deployed"}).json()
    return {node["uuid"]: node["current_num_containers"] for node in nodes["objects"]}


def start_and_find(client: ApiClient, node: ExtraNode, container: dict[str, object]) -> None:
    """Start the container and check it runs on `node`'s own daemon."""
    uuid = str(container["uuid"])
    assert client.act(uuid, "start").status_code == 202
    client.wait_state(uuid, "Running")
    (real,) = node.containers(uuid)
    assert real.status == "running"


def test_new_containers_go_to_the_emptiest_node_and_spread(
    alice: ApiClient, extra_nodes: list[ExtraNode]
) -> None:
    chosen = []
    for index in range(4):
        loads = deployed_loads(alice)
        expected = min(loads, key=lambda uuid: (loads[uuid], uuid))
        created = alice.create(name=f"spread-{index}", run_command=SLEEPER)
        assert node_uuid_of(created) == expected
        chosen.append(expected)
    assert len(set(chosen)) >= 2
    by_uuid = {node.uuid: node for node in extra_nodes}
    placed = alice.create(name="spread-run", run_command=SLEEPER)
    if node_uuid_of(placed) in by_uuid:
        start_and_find(alice, by_uuid[node_uuid_of(placed)], placed)


def test_a_named_node_is_honoured_in_either_tree(
    alice: ApiClient, extra_nodes: list[ExtraNode]
) -> None:
    second = extra_nodes[1]
    for named in (second.uuid, f"/api/infra/v1/node/{second.uuid}/"):
        created = alice.create(name="named", run_command=SLEEPER, node=named)
        assert node_uuid_of(created) == second.uuid
    start_and_find(alice, second, created)
    assert extra_nodes[0].containers(str(created["uuid"])) == []


def test_tags_choose_a_node_with_all_of_them(
    alice: ApiClient, extra_nodes: list[ExtraNode]
) -> None:
    first = extra_nodes[0]
    shown = alice.request("GET", f"/api/v1/node/{first.uuid}/").json()
    assert shown["tags"] == [{"name": "ssd"}, {"name": "zone-a"}]
    created = alice.create(name="tagged", run_command=SLEEPER, tags=["zone-a", "ssd"])
    assert node_uuid_of(created) == first.uuid
    start_and_find(alice, first, created)


def test_a_tag_nobody_has_is_refused_and_nothing_is_written(
    alice: ApiClient, extra_nodes: list[ExtraNode]
) -> None:
    before = alice.request("GET", "/api/v1/container/").json()["meta"]["total_count"]
    refused = alice.request(
        "POST",
        "/api/v1/container/",
        json={"image_name": "controlplane/busybox:latest", "tags": ["zone-a", "zone-b"]},
    )
    assert refused.status_code == 503
    assert "no node has all the tags zone-a, zone-b" in refused.json()["error"]
    assert alice.request("GET", "/api/v1/container/").json()["meta"]["total_count"] == before


@pytest.fixture
def silent_node(extra_nodes: list[ExtraNode]) -> Iterator[ExtraNode]:
    """The second extra node, whose agent the test stops; it is running again afterwards."""
    node = extra_nodes[1]
    yield node
    if not node.agent.alive():
        node.agent.restart()


def test_a_silent_node_becomes_unreachable_and_comes_back(
    alice: ApiClient, plane: Plane, silent_node: ExtraNode
) -> None:
    running = alice.create(name="on-lost-node", run_command=SLEEPER, node=silent_node.uuid)
    uuid = str(running["uuid"])
    start_and_find(alice, silent_node, running)
    actions_before = alice.request("GET", "/api/v1/action/", params={"object": uuid}).json()
    with connect(plane, "/v1/events") as events:
        silent_node.agent.stop(keep_log=True)
        alice.wait_node_state(silent_node.uuid, "Unreachable", timeout=60)
        lost = read_until(events, is_about(silent_node.uuid, "node", "Unreachable"))[-1]
        assert (lost["action"], lost["resource_uri"]) == (
            "update",
            f"/api/v1/node/{silent_node.uuid}/",
        )
        refuses_actions_and_placement(alice, silent_node, uuid, actions_before)

        silent_node.agent.restart()
        alice.wait_node_state(silent_node.uuid, "Deployed", timeout=60)
        read_until(events, is_about(silent_node.uuid, "node", "Deployed"))
    assert alice.container(uuid)["synchronized"] is True
    assert alice.act(uuid, "stop").status_code == 202
    alice.wait_state(uuid, "Stopped")


def refuses_actions_and_placement(
    alice: ApiClient, silent_node: ExtraNode, uuid: str, actions_before: dict[str, Any]
) -> None:
    """While the node is Unreachable: its container shows its last state, unsynchronized;
    actions on it and placements on the node are refused at once, writing nothing."""
    shown = alice.container(uuid)
    assert (shown["state"], shown["synchronized"]) == ("Running", False)
    for action in ("stop", "redeploy", "terminate"):
        refused = alice.act(uuid, action)
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "node-unreachable-error"
    placed = alice.request(
        "POST",
        "/api/v1/container/",
        json={"image_name": "controlplane/busybox:latest", "node": silent_node.uuid},
    )
    assert (placed.status_code, placed.json()["code"]) == (503, "node-unreachable-error")
    assert silent_node.uuid not in deployed_loads(alice)
    assert alice.container(uuid)["state"] == "Running"
    actions_after = alice.request("GET", "/api/v1/action/", params={"object": uuid}).json()
    assert actions_after["meta"]["total_count"] == actions_before["meta"]["total_count"]
    # The real container ran on untouched while its agent was away.
    assert silent_node.containers(uuid)[0].status == "running"
