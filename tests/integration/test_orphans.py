"""Orphans are collected: a labelled Docker container on a node that no live record owns is
removed by the reconciliation once it is older than the orphan grace period (2 s in the test
plane), with a line in the reporter's log; so Init means nothing on Docker again, and a
terminated container stays terminated whatever a late task did on the node."""

from __future__ import annotations

import uuid as uuid_lib

import docker
import docker.errors
import pytest

from controlplane.core.messages import LABEL_CONTAINER_UUID, LABEL_NODE_UUID
from tests.support.api import ApiClient
from tests.support.containers import SERVER, docker_containers
from tests.support.locations import IMAGE
from tests.support.plane import Plane
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def by_hand(
    docker_client: docker.DockerClient, plane: Plane, uuid: str, name: str, *, start: bool
) -> str:
    """A Docker container labelled as the agent labels its own, made behind the control plane's
    back, as a late or half-finished task would leave it; returns its Docker id."""
    container = docker_client.containers.create(
        IMAGE,
        "sleep 3600",
        name=name,
        labels={LABEL_CONTAINER_UUID: uuid, LABEL_NODE_UUID: plane.node_uuid},
        init=True,
    )
    if start:
        container.start()
    return str(container.id)


def gone(docker_client: docker.DockerClient, docker_id: str) -> bool:
    try:
        docker_client.containers.get(docker_id)
    except docker.errors.NotFound:
        return True
    return False


def reporter_said(plane: Plane, text: str) -> bool:
    return text in plane.services["reporter"].log_path.read_text(errors="replace")


def test_a_running_container_of_a_terminated_record_is_removed(
    alice: ApiClient, plane: Plane, docker_client: docker.DockerClient
) -> None:
    created = alice.create(name="revenant", run_command=SERVER)
    alice.act(created["uuid"], "start")
    alice.wait_state(created["uuid"], "Running")
    alice.act(created["uuid"], "terminate")
    alice.wait_state(created["uuid"], "Terminated")
    docker_id = by_hand(docker_client, plane, created["uuid"], created["unique_name"], start=True)

    wait_for(lambda: gone(docker_client, docker_id), timeout=30)
    assert reporter_said(plane, f"container {docker_id[:12]} of {created['uuid']}")
    assert alice.container(created["uuid"])["state"] == "Terminated"


def test_a_container_no_record_owns_is_removed(
    plane: Plane, docker_client: docker.DockerClient
) -> None:
    stranger = str(uuid_lib.uuid4())
    docker_id = by_hand(docker_client, plane, stranger, f"stranger-{stranger[:8]}", start=True)
    wait_for(lambda: gone(docker_client, docker_id), timeout=30)
    assert reporter_said(plane, f"{stranger} (no record owns it)")


def test_a_never_started_container_behind_an_init_record_is_removed_and_the_start_still_works(
    alice: ApiClient, plane: Plane, docker_client: docker.DockerClient
) -> None:
    """What a first start that failed after Docker's create leaves behind its Init record."""
    created = alice.create(name="leftover", run_command=SERVER)
    docker_id = by_hand(docker_client, plane, created["uuid"], created["unique_name"], start=False)

    wait_for(lambda: gone(docker_client, docker_id), timeout=30)
    assert alice.container(created["uuid"])["state"] == "Init"
    alice.act(created["uuid"], "start")
    alice.wait_state(created["uuid"], "Running")
    [container] = docker_containers(docker_client, created["uuid"])
    assert container.id != docker_id
