"""What must hold on a plane once it has converged, whatever faults came before: each live
record has exactly one Docker container in the matching state (none while Init), nothing is left
Starting, Stopping or Terminating, no Action is left Pending or In progress, and no labelled
Docker container of a node lacks a live record (an orphan). Each record is checked on its own
node's Docker Engine: the plane's node's, or an extra node's (`nodes`).

`wait_converged` keeps, for the fault matrix (benchmarks/fault_matrix.py), how long each wait
took and what was still broken when it ended (`CONVERGENCE`); nothing asserts on those times.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import docker

from controlplane.core.lifecycle import TRANSITIONAL_STATES, State
from controlplane.core.messages import LABEL_CONTAINER_UUID, LABEL_NODE_UUID
from tests.support.api import ApiClient
from tests.support.containers import docker_containers, node_uuid_of
from tests.support.plane import Plane
from tests.support.waiting import wait_for

# Docker statuses that match each stable state of a record.
MATCHING_STATUS = {
    State.RUNNING.value: {"running"},
    State.STOPPED.value: {"exited", "created"},
}
OPEN_ACTIONS = ("Pending", "In progress")


@dataclass(frozen=True)
class Convergence:
    seconds: float
    violations: list[str]


# Every wait of the running test, in order; the fault suite's conftest reads and clears it.
CONVERGENCE: list[Convergence] = []


def listed(client: ApiClient, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.request("GET", path, params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["objects"])


def violations(
    plane: Plane,
    clients: list[ApiClient],
    docker: docker.DockerClient,
    nodes: Mapping[str, docker.DockerClient] | None = None,
) -> list[str]:
    """Every invariant the plane breaks now; empty once it has converged. `docker` is the
    plane's node's Engine, `nodes` the Engines of its other nodes by node uuid."""
    engines = {plane.node_uuid: docker, **(nodes or {})}
    found: list[str] = []
    live: set[str] = set()
    for client in clients:
        for record in listed(client, "/api/v1/container/"):
            if record["state"] == State.TERMINATED.value:
                continue
            live.add(record["uuid"])
            engine = engines.get(node_uuid_of(record))
            if engine is None:
                found.append(f"{record['uuid']} is on node {node_uuid_of(record)}, not checked")
            else:
                found.extend(record_violations(record, engine))
        for state in OPEN_ACTIONS:
            for action in listed(client, "/api/v1/action/", state=state):
                found.append(f"action {action['uuid']} is left {state}")
    for node_uuid, engine in engines.items():
        labelled = engine.containers.list(
            all=True, filters={"label": f"{LABEL_NODE_UUID}={node_uuid}"}, ignore_removed=True
        )
        for container in labelled:
            owner = container.labels[LABEL_CONTAINER_UUID]
            if owner not in live:
                found.append(f"orphan {container.id[:12]} of {owner}")
    return found


def record_violations(record: dict[str, Any], docker: docker.DockerClient) -> list[str]:
    """What is wrong with one live record and its Docker containers."""
    uuid, state = record["uuid"], record["state"]
    if state in {s.value for s in TRANSITIONAL_STATES}:
        return [f"{uuid} is left {state}"]
    containers = docker_containers(docker, uuid)
    if state == State.INIT.value:
        return [f"{uuid} is Init with {len(containers)} Docker container(s)"] if containers else []
    if len(containers) != 1:
        return [f"{uuid} is {state} with {len(containers)} Docker containers"]
    if containers[0].status not in MATCHING_STATUS[state]:
        return [f"{uuid} is {state} but its container is {containers[0].status}"]
    return []


def wait_converged(
    plane: Plane,
    clients: list[ApiClient],
    docker: docker.DockerClient,
    timeout: float = 60,
    *,
    nodes: Mapping[str, docker.DockerClient] | None = None,
) -> None:
    """Wait until the plane breaks no invariant (`violations`, with the Engines of its other
    `nodes`); fail naming what it still breaks."""
    last: list[str] = []
    began = time.monotonic()

    def converged() -> bool:
        nonlocal last
        last = violations(plane, clients, docker, nodes)
        return not last

    try:
        wait_for(converged, timeout=timeout, interval=0.5)
    except AssertionError:
        raise AssertionError(f"not converged within {timeout} s: {last}") from None
    finally:
        CONVERGENCE.append(Convergence(time.monotonic() - began, last))
