"""Services on real Docker and three real nodes (the session's and two extra daemons): a
service runs its target of real containers spread across nodes, scales up and down, redeploys
one container at a time while it keeps serving, and its terminate removes every container."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.support.api import ApiClient
from tests.support.daemons import ExtraNode
from tests.support.locations import IMAGE
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

SLEEPER = 'sh -c "exec sleep 3600"'
LABEL = "io.controlplane.container_uuid"


def create_service(client: ApiClient, **fields: Any) -> dict[str, Any]:
    body = {"image": IMAGE, "run_command": SLEEPER, **fields}
    response = client.request("POST", "/api/v1/service/", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def service(client: ApiClient, uuid: str) -> dict[str, Any]:
    response = client.request("GET", f"/api/v1/service/{uuid}/")
    assert response.status_code == 200, response.text
    return dict(response.json())


def act(client: ApiClient, uuid: str, action: str, **body: Any) -> dict[str, Any]:
    response = client.request("POST", f"/api/v1/service/{uuid}/{action}/", json=body or None)
    assert response.status_code == 202, response.text
    return dict(response.json())


def wait_service(
    client: ApiClient, uuid: str, state: str, count: int | None = None, timeout: float = 60
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body = service(client, uuid)
        ok = body["state"] == state and (count is None or body["current_num_containers"] == count)
        return body if ok else None

    return dict(wait_for(reached, timeout, interval=0.2))


class Daemons:
    """Every real container of a control-plane container, on whichever of the nodes holds it."""

    def __init__(self, clients: list[docker.DockerClient]) -> None:
        self.clients = clients

    def find(self, container_uuid: str) -> list[Any]:
        found = []
        for client in self.clients:
            found += client.containers.list(
                all=True, filters={"label": f"{LABEL}={container_uuid}"}
            )
        return found

    def running(self, container_uris: list[str]) -> list[Any]:
        real = [c for uri in container_uris for c in self.find(uri.rstrip("/").rsplit("/", 1)[-1])]
        return [c for c in real if c.status == "running"]


@pytest.fixture
def daemons(docker_client: docker.DockerClient, extra_nodes: list[ExtraNode]) -> Iterator[Daemons]:
    yield Daemons([docker_client, *(node.docker for node in extra_nodes)])


def node_of(client: ApiClient, container_uri: str) -> str:
    return str(client.request("GET", container_uri).json()["node"])


def test_a_service_runs_its_target_spread_across_three_nodes(
    alice: ApiClient, daemons: Daemons
) -> None:
    created = create_service(
        alice, name="spread", target_num_containers=3, deployment_strategy="HIGH_AVAILABILITY"
    )
    act(alice, created["uuid"], "start")
    running = wait_service(alice, created["uuid"], "Running", 3)
    assert running["running_num_containers"] == 3
    assert len(daemons.running(running["containers"])) == 3
    assert len({node_of(alice, uri) for uri in running["containers"]}) == 3
    names = sorted(alice.request("GET", uri).json()["unique_name"] for uri in running["containers"])
    assert names == ["spread-1", "spread-2", "spread-3"]
    act_terminate(alice, created["uuid"])
    gone = wait_service(alice, created["uuid"], "Terminated")
    assert gone["current_num_containers"] == 0
    assert daemons.running(running["containers"]) == []
    assert all(
        daemons.find(uri.rstrip("/").rsplit("/", 1)[-1]) == [] for uri in running["containers"]
    )


def act_terminate(client: ApiClient, uuid: str) -> None:
    response = client.request("DELETE", f"/api/v1/service/{uuid}/")
    assert response.status_code == 202, response.text


def test_a_service_scales_up_and_down(alice: ApiClient, daemons: Daemons) -> None:
    created = create_service(alice, name="scaled")
    act(alice, created["uuid"], "start")
    wait_service(alice, created["uuid"], "Running", 1)
    act(alice, created["uuid"], "scale", target_num_containers=5)
    up = wait_service(alice, created["uuid"], "Running", 5)
    assert len(daemons.running(up["containers"])) == 5
    act(alice, created["uuid"], "scale", target_num_containers=2)
    down = wait_service(alice, created["uuid"], "Running", 2)
    assert len(daemons.running(down["containers"])) == 2
    removed = set(up["containers"]) - set(down["containers"])
    assert len(removed) == 3
    assert daemons.running(sorted(removed)) == []
    act_terminate(alice, created["uuid"])
    wait_service(alice, created["uuid"], "Terminated")


def test_a_redeploy_replaces_every_container_and_keeps_the_service_serving(
    alice: ApiClient, daemons: Daemons
) -> None:
    created = create_service(alice, name="rolling", target_num_containers=3)
    act(alice, created["uuid"], "start")
    before = wait_service(alice, created["uuid"], "Running", 3)
    old_ids = {c.id for c in daemons.running(before["containers"])}
    act(alice, created["uuid"], "redeploy")
    least_running = 3
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        now = service(alice, created["uuid"])
        least_running = min(least_running, len(daemons.running(now["containers"])))
        if now["state"] == "Running":
            break
        time.sleep(0.1)
    after = service(alice, created["uuid"])
    assert after["state"] == "Running"
    assert least_running >= 2, "a rolling redeploy replaces one container at a time"
    new_ids = {c.id for c in daemons.running(after["containers"])}
    assert len(new_ids) == 3 and not new_ids & old_ids
    assert after["containers"] == before["containers"]
    act_terminate(alice, created["uuid"])
    wait_service(alice, created["uuid"], "Terminated")
