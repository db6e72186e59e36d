"""Nodes on hosts of their own, and a network partition between one of them and the control plane.

Each host is a network namespace (tests.support.netns: `cpns1`, `cpns2`) joined to this machine
by a veth, with a dockerd of its own inside (tests.support.daemons, `netns`) and the node's agent
inside too, reaching the broker at this machine's end of the veth, as an agent on another machine
reaches it over the network: the plane runs on a Redis server of this module's own that listens
there as well as on loopback (where the reporter and the API reach it), with a password, as a
broker nodes reach must have (docs/operations.md §4).

The first test shows the hosts are what they seem: each node is Deployed, its agent's broker
connections come from its host's address, a container placed by tags or by node runs on that
host's dockerd and nowhere else, and its published port answers at that host's address, which
its `endpoint_uri` names. The second cuts one host's link (its veth taken down on this machine's
side) while a stop of one of its containers is under way there: the node turns Unreachable after
the node grace, actions on its containers and placements on it are refused with 503 while the
other host goes on, the stop finishes on Docker without anybody hearing it (the agent's report
fails to connect, is retried, and is given up), nothing is made twice, and the plane does not
settle the stop while the link stays cut, past the stuck timeout. Once the link is back the
node is Deployed again and the plane converges to what the host's dockerd really has
(tests.support.invariants), from the agent's relists, and the stop's Action is a Success: a
relist the agent took while the stop was still under way, and could send only after the heal,
does not settle it (the reporter judges an operation stuck from when a picture was taken, not
from when it arrived).

The timings it measured are printed (`-s`): how long the cut node took to turn Unreachable, and,
after the heal, to be Deployed again and for the plane to converge.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import docker
import pytest
import requests

from tests.support import netns
from tests.support.api import ApiClient
from tests.support.containers import (
    SLEEP,
    STUBBORN,
    action_of,
    docker_containers,
    node_uuid_of,
    running,
)
from tests.support.daemons import NETNS_NODE_TAGS, ExtraNode, start_extra_nodes
from tests.support.invariants import wait_converged
from tests.support.locations import IMAGE
from tests.support.netns import NetnsHost
from tests.support.plane import Plane
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

# How long the link stays cut: past the node grace (8 s) and the stuck timeout (20 s) of the
# plane (tests.support.plane), and long enough for TCP to back off its retransmissions.
PARTITION_SECONDS = 40
# Serves the name of its host at /, so an answer says where it came from.
HTTPD = 'sh -c "echo {text} > /tmp/index.html; exec httpd -f -p 80 -h /tmp"'


@pytest.fixture(scope="module")
def hosts() -> Iterator[list[NetnsHost]]:
    """The hosts `cpns1` and `cpns2`, made afresh (a killed run's are cleared first) and
    deleted afterwards, pass or fail; skipped where network namespaces cannot be made."""
    netns.require()
    made = netns.hosts()
    try:
        for host in made:
            host.create()
        yield made
    finally:
        for host in made:
            host.delete()


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, hosts: list[NetnsHost]
) -> Iterator[RedisServer]:
    """The fault suite's Redis (tests/faults/conftest.py), listening on the hosts' veths too."""
    server = RedisServer(
        tmp_path_factory.mktemp("redis"),
        addresses=[host.host_address for host in hosts],
        password=secrets.token_hex(16),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def host_nodes(
    fault_plane: Plane, docker_client: docker.DockerClient, hosts: list[NetnsHost]
) -> Iterator[list[ExtraNode]]:
    """A node on each host: its dockerd and agent inside, tagged as in NETNS_NODE_TAGS."""
    by_name = {host.name: host for host in hosts}
    with start_extra_nodes(fault_plane, docker_client, NETNS_NODE_TAGS, hosts=by_name) as nodes:
        yield nodes


@pytest.fixture
def cut_node(host_nodes: list[ExtraNode]) -> Iterator[ExtraNode]:
    """The first host's node, whose link the test cuts; the link is up again afterwards."""
    node = host_nodes[0]
    yield node
    assert node.host is not None
    if not node.host.link_up():
        node.host.heal()


def broker_clients(broker: RedisServer) -> set[str]:
    """The addresses the broker's clients connect from."""
    client = broker.client()
    try:
        return {entry["addr"].rsplit(":", 1)[0] for entry in client.client_list()}
    finally:
        client.close()


def host_of(node: ExtraNode) -> NetnsHost:
    assert node.host is not None
    return node.host


def engines(docker_client: docker.DockerClient, nodes: list[ExtraNode]) -> dict[str, Any]:
    """Every Docker Engine of the test: the machine's, and each host's, by a name for messages."""
    return {"this machine": docker_client, **{host_of(n).name: n.docker for n in nodes}}


def only_on(
    node: ExtraNode, uuid: str, docker_client: docker.DockerClient, nodes: list[ExtraNode]
) -> Any:
    """The one Docker container of `uuid`, on `node`'s dockerd; fails if there is another, on
    that daemon or on any other."""
    found = {
        name: docker_containers(engine, uuid)
        for name, engine in engines(docker_client, nodes).items()
    }
    home = found.pop(host_of(node).name)
    assert len(home) == 1, f"{uuid} has {len(home)} containers on {host_of(node).name}"
    assert not any(found.values()), f"{uuid} also has containers elsewhere: {found}"
    return home[0]


def test_each_host_runs_its_containers_on_its_own_dockerd_at_its_own_address(
    carol: ApiClient,
    broker: RedisServer,
    docker_client: docker.DockerClient,
    host_nodes: list[ExtraNode],
) -> None:
    first, second = host_nodes
    # Each agent reaches the broker from its host's address: over the veth, never loopback.
    addresses = {host_of(node).address for node in host_nodes}
    wait_for(lambda: addresses <= broker_clients(broker))
    for node in host_nodes:
        host = host_of(node)
        # Nothing leaves a host but to this machine: no default route, no other link.
        assert sorted(tuple(route.split()[:3]) for route in host.routes()) == [
            (f"10.201.{node.daemon.index}.0/24", "dev", host.name),
            (f"10.230.{host.index}.0/30", "dev", host.link),
        ]
        shown = carol.request("GET", f"/api/v1/node/{node.uuid}/").json()
        assert shown["state"] == "Deployed"
        assert shown["tags"] == [{"name": NETNS_NODE_TAGS[host.name]}]
        assert shown["nickname"] == shown["external_fqdn"]
        assert shown["external_fqdn"].startswith(f"{host.name}-")

    ports = [{"protocol": "tcp", "inner_port": 80}]
    by_tag = carol.create(
        name="by-tag",
        run_command=HTTPD.format(text=host_of(first).name),
        container_ports=ports,
        tags=[NETNS_NODE_TAGS[host_of(first).name]],
    )
    by_node = carol.create(
        name="by-node",
        run_command=HTTPD.format(text=host_of(second).name),
        container_ports=ports,
        node=second.uuid,
    )
    assert node_uuid_of(by_tag) == first.uuid
    assert node_uuid_of(by_node) == second.uuid
    for node, created in ((first, by_tag), (second, by_node)):
        host = host_of(node)
        assert carol.act(created["uuid"], "start").status_code == 202
        body = carol.wait_state(created["uuid"], "Running")
        real = only_on(node, created["uuid"], docker_client, host_nodes)
        assert real.status == "running"
        # The container's DNS name is its node's; its port is bound on its host's address and
        # answers there, from inside that host only.
        shown = carol.request("GET", f"/api/v1/node/{node.uuid}/").json()
        assert body["public_dns"] == shown["external_fqdn"]
        [port] = body["container_ports"]
        outer = port["outer_port"]
        assert port["endpoint_uri"] == f"tcp://{host.address}:{outer}/"
        bound = real.attrs["NetworkSettings"]["Ports"]["80/tcp"]
        assert bound == [{"HostIp": host.address, "HostPort": str(outer)}]
        assert wait_for(partial(_get, f"http://{host.address}:{outer}/"), timeout=10) == (
            f"{host.name}\n"
        )


def _get(url: str) -> str | None:
    try:
        return requests.get(url, timeout=2).text
    except requests.ConnectionError:
        return None


def test_a_cut_host_turns_unreachable_refuses_actions_and_converges_once_healed(
    carol: ApiClient,
    fault_plane: Plane,
    docker_client: docker.DockerClient,
    host_nodes: list[ExtraNode],
    cut_node: ExtraNode,
) -> None:
    (other_node,) = [node for node in host_nodes if node is not cut_node]
    host = host_of(cut_node)
    stubborn = running(carol, name="mid-stop", run_command=STUBBORN, node=cut_node.uuid)["uuid"]
    idle = running(carol, name="idle", run_command=SLEEP, node=cut_node.uuid)["uuid"]
    elsewhere = running(carol, name="elsewhere", run_command=SLEEP, node=other_node.uuid)["uuid"]
    idle_actions = action_count(carol, idle)

    # A stop the agent has claimed: Docker waits out the stop timeout (5 s) for a container that
    # ignores SIGTERM, and the link goes while it does.
    stop = action_of(carol.act(stubborn, "stop"))
    wait_for(lambda: carol.action(f"/api/v1/action/{stop}/")["state"] == "In progress")
    host.cut()
    cut_at = time.monotonic()
    carol.wait_node_state(cut_node.uuid, "Unreachable", timeout=60)
    unreachable_after = time.monotonic() - cut_at

    # The stop went on without the plane: Docker's container exited, and nobody has heard it.
    wait_for(lambda: only_on(cut_node, stubborn, docker_client, host_nodes).status == "exited")
    shown = carol.container(stubborn)
    assert (shown["state"], shown["synchronized"]) == ("Stopping", False)
    assert carol.action(f"/api/v1/action/{stop}/")["state"] == "In progress"
    # New actions on the cut node's containers, and placements on it, are refused at once.
    shown = carol.container(idle)
    assert (shown["state"], shown["synchronized"]) == ("Running", False)
    for action in ("stop", "redeploy", "terminate"):
        refused = carol.act(idle, action)
        assert (refused.status_code, refused.json()["code"]) == (503, "node-unreachable-error")
    placed = carol.request(
        "POST", "/api/v1/container/", json={"image_name": IMAGE, "node": cut_node.uuid}
    )
    assert (placed.status_code, placed.json()["code"]) == (503, "node-unreachable-error")
    assert action_count(carol, idle) == idle_actions
    assert only_on(cut_node, idle, docker_client, host_nodes).status == "running"
    # The other host goes on as before.
    assert carol.node_state(other_node.uuid) == "Deployed"
    assert carol.act(elsewhere, "stop").status_code == 202
    carol.wait_state(elsewhere, "Stopped")
    assert only_on(other_node, elsewhere, docker_client, host_nodes).status == "exited"

    # Held past the stuck timeout (20 s): the node stays Unreachable all along, and the plane
    # does not settle the cut-off stop by itself, since it has heard nothing of it.
    while time.monotonic() < cut_at + PARTITION_SECONDS:
        assert carol.node_state(cut_node.uuid) == "Unreachable"
        assert carol.container(stubborn)["state"] == "Stopping"
        time.sleep(1)
    host.heal()
    healed_at = time.monotonic()
    carol.wait_node_state(cut_node.uuid, "Deployed", timeout=120)
    deployed_after = time.monotonic() - healed_at
    nodes = {node.uuid: node.docker for node in host_nodes}
    wait_converged(fault_plane, [carol], docker_client, timeout=120, nodes=nodes)
    converged_after = time.monotonic() - healed_at

    # What the plane shows is what the host's dockerd has, and nothing was made twice.
    assert carol.container(stubborn)["state"] == "Stopped"
    stopped = carol.action(f"/api/v1/action/{stop}/")
    assert stopped["state"] == "Success", stopped
    for uuid, node in ((stubborn, cut_node), (idle, cut_node), (elsewhere, other_node)):
        only_on(node, uuid, docker_client, host_nodes)
    assert action_count(carol, idle) == idle_actions
    # And the node takes actions again.
    assert carol.act(idle, "stop").status_code == 202
    carol.wait_state(idle, "Stopped")
    assert only_on(cut_node, idle, docker_client, host_nodes).status == "exited"
    print(
        f"\npartition of {host.name} for {healed_at - cut_at:.0f} s: Unreachable"
        f" {unreachable_after:.1f} s after the cut;"
        f" after the heal, Deployed in {deployed_after:.1f} s, converged in"
        f" {converged_after:.1f} s; the stop cut off mid-way ended {stopped['state']}"
        f" ({stopped['reason'] or 'no reason'})"
    )


def action_count(user: ApiClient, uuid: str) -> int:
    listed = user.request("GET", "/api/v1/action/", params={"object": uuid}).json()
    return int(listed["meta"]["total_count"])
