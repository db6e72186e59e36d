"""Cancel and retry with the real agent: a cancel that wins the race with the node's claim
stops the operation before any Docker call; a failed start runs again once its cause is gone."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
import redis

from tests.support.api import ApiClient
from tests.support.broker import wait_broker_idle
from tests.support.containers import SERVER, docker_containers
from tests.support.plane import Plane
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def agent_stopped(plane: Plane) -> Iterator[None]:
    """The node's agent is down (its node stays registered), so operations stay queued."""
    agent = plane.services["agent"]
    agent.stop(keep_log=True)
    try:
        yield
    finally:
        if not agent.alive():
            agent.restart()


def test_an_operation_canceled_while_queued_never_reaches_docker(
    alice: ApiClient,
    plane: Plane,
    agent_stopped: None,
    redis_db: redis.Redis,
    docker_client: docker.DockerClient,
) -> None:
    created = alice.create(name="canceled", run_command=SERVER)
    started = alice.act(created["uuid"], "start")
    action_uri = started.headers["X-Tutum-Action-URI"]
    assert alice.action(action_uri)["can_be_canceled"] is True

    canceled = alice.request("POST", f"{action_uri}cancel/")
    assert canceled.status_code == 202
    assert canceled.json()["state"] == "Canceled"
    assert alice.container(created["uuid"])["state"] == "Init"

    plane.services["agent"].restart()
    wait_broker_idle(redis_db, plane)
    assert docker_containers(docker_client, created["uuid"]) == []
    assert alice.action(action_uri)["state"] == "Canceled"
    assert alice.container(created["uuid"])["state"] == "Init"


def test_a_claimed_operation_cannot_be_canceled(alice: ApiClient) -> None:
    created = alice.create(name="too-late", run_command=SERVER)
    action_uri = alice.act(created["uuid"], "start").headers["X-Tutum-Action-URI"]
    alice.wait_state(created["uuid"], "Running")
    assert alice.request("POST", f"{action_uri}cancel/").status_code == 409
    assert alice.action(action_uri)["state"] == "Success"


@pytest.fixture
def late_image(docker_client: docker.DockerClient, image: str) -> Iterator[str]:
    name = "controlplane/late-image:1"
    yield name
    try:
        docker_client.images.remove(name)
    except docker.errors.ImageNotFound:
        pass


def test_a_failed_start_succeeds_on_retry_once_the_image_exists(
    alice: ApiClient, docker_client: docker.DockerClient, image: str, late_image: str
) -> None:
    created = alice.create(image_name=late_image, name="late", run_command=SERVER)
    action_uri = alice.act(created["uuid"], "start").headers["X-Tutum-Action-URI"]
    failed = alice.wait_action(action_uri)
    assert failed["state"] == "Failed" and failed["can_be_retried"] is True

    docker_client.images.get(image).tag(late_image)
    retried = alice.request("POST", f"{action_uri}retry/")
    assert retried.status_code == 202
    assert retried.json()["uuid"] == failed["uuid"]
    assert alice.wait_action(action_uri)["state"] == "Success"
    assert alice.wait_state(created["uuid"], "Running")["state"] == "Running"
    [container] = docker_containers(docker_client, created["uuid"])
    wait_for(lambda: container.reload() or container.status == "running")
