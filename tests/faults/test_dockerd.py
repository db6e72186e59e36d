"""Fault injection on a node's Docker Engine: its dockerd killed (SIGKILL, as a crash) or stopped
(SIGTERM, as an operator or a package upgrade does) in the middle of a burst of first starts,
then started again on the same roots.

A first start that fails after Docker's create leaves a `created` container behind a record that
is back in Init; the relist must find it and have it removed (or a new start adopt it), so that
Init means nothing on Docker again. After the daemon is back the plane must converge
(tests.support.invariants), every container that was answered 201 must still be there, each
start must have ended Success or Failed, and a Failed one must not have taken effect.

A SIGKILL mostly leaves `created` containers, collected as orphans. A SIGTERM lets dockerd stop
first: a start caught in it fails after its container ran, and the container the agent then
discards is left `dead`, half removed, until the daemon's next start finishes the removal; a
relist that took it for its record's would have lost the record (`observe.LEAVING_STATUSES`).

The fault plane's own node runs on the machine's dockerd, which is never killed: these tests
place their containers on `fault_node`, a node on a dockerd of its own.
"""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import pytest

from controlplane.core.lifecycle import State
from controlplane.core.messages import LABEL_CONTAINER_UUID, LABEL_NODE_UUID
from tests.support.api import ApiClient
from tests.support.containers import SERVER, action_of
from tests.support.daemons import ExtraNode
from tests.support.invariants import wait_converged
from tests.support.plane import Plane
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

# More first starts than the agent runs at once (8 by default), asked for together: when the
# first Docker container appears, some are mid-create, some mid-start and some still queued.
BURST = 12


def start_together(plane: Plane, uuids: list[str]) -> dict[str, str]:
    """Ask for every start at once, each on a connection of its own, so the node runs them side
    by side; the Action of each start, by container uuid."""

    def start(uuid: str) -> str:
        client = plane.client("alice")
        with client.session:
            return action_of(client.act(uuid, "start"))

    with ThreadPoolExecutor(len(uuids)) as pool:
        return dict(zip(uuids, pool.map(start, uuids), strict=True))


def made_on(node: ExtraNode, uuids: set[str]) -> list[str]:
    """The Docker statuses of the containers of `uuids` the node's dockerd has made so far
    (one listing, without docker-py's inspect of each, to be quick mid-start)."""
    listed = node.docker.api.containers(
        all=True, filters={"label": f"{LABEL_NODE_UUID}={node.uuid}"}
    )
    return [c["State"] for c in listed if c["Labels"].get(LABEL_CONTAINER_UUID) in uuids]


def check_start_outcome(record: dict[str, Any], action: dict[str, Any]) -> None:
    """A first start ended, and the record shows what it did: a Success ran the container (the
    daemon's going away may have stopped it since); a Failed one took no effect, the record is
    back in Init (with nothing on Docker, which the invariants check)."""
    assert action["state"] in ("Success", "Failed"), action
    if action["state"] == "Success":
        assert record["state"] in (State.RUNNING.value, State.STOPPED.value), record
    else:
        assert record["state"] == State.INIT.value, (record, action)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_dockerd_gone_mid_first_start_leaves_nothing_on_docker_behind_init(
    sig: signal.Signals,
    fault_plane: Plane,
    carol: ApiClient,
    fault_node: ExtraNode,
    docker_client: docker.DockerClient,
) -> None:
    created = [
        carol.create(name=f"first-{n}", run_command=SERVER, node=fault_node.uuid)
        for n in range(BURST)
    ]
    starts = start_together(fault_plane, [c["uuid"] for c in created])
    # Mid-start: a create has reached Docker and its start has not, the others are on their way.
    wait_for(lambda: "created" in made_on(fault_node, set(starts)), timeout=30, interval=0.01)
    fault_node.restart_daemon(sig)

    nodes = {fault_node.uuid: fault_node.docker}
    wait_converged(fault_plane, [carol], docker_client, timeout=60, nodes=nodes)
    for uuid, start in starts.items():
        check_start_outcome(carol.container(uuid), carol.action(f"/api/v1/action/{start}/"))
    assert "created" not in made_on(fault_node, set(starts))

    # Nothing on Docker stands in the way of starting any of them again.
    for uuid in starts:
        if carol.container(uuid)["state"] != State.RUNNING.value:
            action_of(carol.act(uuid, "start"))
    for uuid in starts:
        carol.wait_state(uuid, State.RUNNING.value)
    wait_converged(fault_plane, [carol], docker_client, nodes=nodes)
