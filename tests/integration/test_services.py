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
from tests.support.plane import Plane
from tests.support.services import (
    act,
    act_terminate,
    create_service,
    node_of,
    service,
    wait_service,
)
from tests.support.streams import connect, read_to_close
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

LABEL = "io.controlplane.container_uuid"


class Daemons:
    """Every real container of a control-plane container, on whichever of the nodes holds it."""

    def __init__(self, clients: list[docker.DockerClient]) -> None:
        self.clients = clients

    def find(self, container_uuid: str) -> list[Any]:
        found = []
        for client in self.clients:
            found += client.containers.list(
                all=True, filters={"label": f"{LABEL}={container_uuid}"}, sparse=True
            )
        return found

    def running(self, container_uris: list[str]) -> list[Any]:
        real = [c for uri in container_uris for c in self.find(uri.rstrip("/").rsplit("/", 1)[-1])]
        return [c for c in real if c.status == "running"]


@pytest.fixture
def daemons(docker_client: docker.DockerClient, extra_nodes: list[ExtraNode]) -> Iterator[Daemons]:
    yield Daemons([docker_client, *(node.docker for node in extra_nodes)])


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


@pytest.mark.parametrize(
    "path", ["/v1/service/{uuid}/logs/", "/api/app/v1/alice/service/{uuid}/logs/"]
)
def test_a_service_s_logs_carry_every_container_s_lines_with_their_source(
    alice: ApiClient, plane: Plane, daemons: Daemons, path: str
) -> None:
    created = create_service(
        alice,
        name="chatty",
        target_num_containers=2,
        run_command='sh -c "echo hello-from-service; exec sleep 3600"',
    )
    act(alice, created["uuid"], "start")
    wait_service(alice, created["uuid"], "Running", 2)
    rest = wait_for(
        lambda: (
            (text := _service_logs(alice, created["uuid"])).count("hello-from-service") == 2
            and text
        )
    )
    assert {"chatty-1 | hello-from-service\n", "chatty-2 | hello-from-service\n"} <= set(
        rest.splitlines(keepends=True)
    )
    with connect(plane, path.format(uuid=created["uuid"]) + "?follow=false") as ws:
        frames, code = read_to_close(ws)
    assert code == 1000
    assert sorted((f["source"], f["log"]) for f in frames) == [
        ("chatty-1", "hello-from-service\n"),
        ("chatty-2", "hello-from-service\n"),
    ]
    act_terminate(alice, created["uuid"])
    wait_service(alice, created["uuid"], "Terminated")


def _service_logs(client: ApiClient, uuid: str) -> str:
    response = client.request("GET", f"/api/v1/service/{uuid}/logs/")
    assert response.status_code == 200, response.text
    return str(response.json()["logs"])
