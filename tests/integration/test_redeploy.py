"""Redeploy end to end: a new Docker container under the same uuid from either tree, its
volumes kept or started empty as asked, and a redeploy that cannot be done refused or failed
without touching the running container."""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from controlplane.core.messages import LABEL_CONTAINER_UUID
from tests.support.api import ApiClient
from tests.support.containers import SLEEP, docker_containers, running_container
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def volumes(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Docker volume names a test made; removed afterwards (named volumes outlive containers)."""
    made: list[str] = []
    yield made
    for name in made:
        # This runs before the containers are cleaned up; a volume in use cannot be removed.
        for user in docker_client.containers.list(all=True, filters={"volume": name}):
            user.remove(force=True, v=True)
        try:
            docker_client.volumes.get(name).remove()
        except docker.errors.NotFound:
            pass


# Prints what it finds in its volumes, then marks them with this container's host name (its
# Docker id, which a redeploy changes).
MARKER = (
    "sh -c 'for d in /named /anon; do [ -f $d/mark ] && echo kept:$d:$(cat $d/mark); done; "
    "for d in /named /anon; do [ -f $d/mark ] || hostname > $d/mark; done; exec sleep 3600'"
)


def redeploy(client: ApiClient, uuid: str, **params: str) -> dict[str, Any]:
    response = client.request("POST", f"/api/v1/container/{uuid}/redeploy/", params=params)
    assert response.status_code == 202, response.text
    assert response.json()["state"] == "Starting"
    action = client.wait_action(response.headers["X-Tutum-Action-URI"])
    assert action["state"] == "Success", action
    assert action["action"] == "Container Redeploy"
    return client.wait_state(uuid, "Running")


def volume_container(
    alice: ApiClient, docker_client: docker.DockerClient, volumes: list[str]
) -> tuple[str, Container]:
    """A running container with a named and an anonymous volume, both marked by its first run."""
    body, container = running_container(
        alice,
        docker_client,
        name="volumes",
        run_command=MARKER,
        bindings=[
            {"container_path": "/named", "volume": f"data-{uuid_lib.uuid4().hex[:8]}"},
            {"container_path": "/anon"},
        ],
    )
    volumes += [m["Name"] for m in container.attrs["Mounts"] if m["Destination"] == "/named"]
    wait_for(lambda: container.exec_run("cat /named/mark /anon/mark").exit_code == 0)
    return body["uuid"], container


def test_redeploy_makes_a_new_docker_container_under_the_same_uuid(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    body, old = running_container(alice, docker_client, name="redeploy", run_command=SLEEP)
    running = redeploy(alice, body["uuid"])

    [new] = docker_containers(docker_client, body["uuid"])
    assert new.id != old.id
    assert new.status == "running"
    assert new.name == body["unique_name"]
    assert new.labels[LABEL_CONTAINER_UUID] == body["uuid"]
    assert running["started_datetime"] is not None
    actions = alice.request("GET", "/api/v1/action/", params={"object": body["uuid"]}).json()
    assert [a["action"] for a in actions["objects"]][0] == "Container Redeploy"  # newest first


def test_redeploy_of_a_stopped_container_runs_the_new_one(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    body, old = running_container(alice, docker_client, name="redeploy-stopped", run_command=SLEEP)
    alice.act(body["uuid"], "stop")
    alice.wait_state(body["uuid"], "Stopped")
    redeploy(alice, body["uuid"])
    [new] = docker_containers(docker_client, body["uuid"])
    assert new.id != old.id and new.status == "running"


def test_redeploy_answers_on_the_docker_cloud_tree_with_its_header(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    body, old = running_container(alice, docker_client, name="redeploy-dc", run_command=SLEEP)
    response = alice.request("POST", f"/api/app/v1/alice/container/{body['uuid']}/redeploy/")
    assert response.status_code == 202
    assert response.json()["resource_uri"] == f"/api/app/v1/alice/container/{body['uuid']}/"
    assert response.headers["X-DockerCloud-Action-URI"].startswith("/api/audit/v1/action/")
    alice.wait_state(body["uuid"], "Running")
    wait_for(lambda: [c.id for c in docker_containers(docker_client, body["uuid"])] != [old.id])


def test_redeploy_is_refused_before_the_first_start_and_for_a_bad_flag(alice: ApiClient) -> None:
    created = alice.create(name="never-started", run_command=SLEEP)
    refused = alice.request("POST", f"/api/v1/container/{created['uuid']}/redeploy/")
    assert refused.status_code == 409
    bad = alice.request(
        "POST", f"/api/v1/container/{created['uuid']}/redeploy/?reuse_volumes=maybe"
    )
    assert bad.status_code == 400 and bad.json()["field"] == "reuse_volumes"
    assert alice.container(created["uuid"])["state"] == "Init"


@pytest.mark.parametrize("flag", ["true", "True", "1", None])
def test_volumes_survive_a_redeploy_that_reuses_them(
    alice: ApiClient, docker_client: docker.DockerClient, volumes: list[str], flag: str | None
) -> None:
    uuid, old = volume_container(alice, docker_client, volumes)
    redeploy(alice, uuid, **({"reuse_volumes": flag} if flag else {}))

    [new] = docker_containers(docker_client, uuid)
    assert new.id != old.id
    old_host = old.id[:12]
    logs = wait_for(lambda: (text := alice.logs(uuid)) and "kept:/anon" in text and text)
    assert f"kept:/named:{old_host}" in logs
    assert f"kept:/anon:{old_host}" in logs


@pytest.mark.parametrize("flag", ["false", "False", "0"])
def test_volumes_start_empty_after_a_redeploy_that_does_not_reuse_them(
    alice: ApiClient, docker_client: docker.DockerClient, volumes: list[str], flag: str
) -> None:
    uuid, old = volume_container(alice, docker_client, volumes)
    anonymous = [m["Name"] for m in old.attrs["Mounts"] if m["Destination"] == "/anon"]
    redeploy(alice, uuid, reuse_volumes=flag)

    [new] = docker_containers(docker_client, uuid)
    assert new.id != old.id
    wait_for(lambda: new.exec_run("cat /named/mark /anon/mark").exit_code == 0)
    assert "kept" not in alice.logs(uuid)
    assert new.exec_run("cat /named/mark").output.decode().strip() == new.id[:12]
    assert not [v for v in docker_client.volumes.list() if v.name in anonymous]


def test_terminating_a_redeployed_container_removes_its_anonymous_volumes(
    alice: ApiClient, docker_client: docker.DockerClient, volumes: list[str]
) -> None:
    uuid, old = volume_container(alice, docker_client, volumes)
    anonymous = [m["Name"] for m in old.attrs["Mounts"] if m["Destination"] == "/anon"]
    redeploy(alice, uuid)
    alice.act(uuid, "terminate")
    alice.wait_state(uuid, "Terminated")
    names = {v.name for v in docker_client.volumes.list()}
    assert not names & set(anonymous)
    assert set(volumes) <= names  # a named volume outlives its containers


def redeploy_fails_and_keeps(
    alice: ApiClient,
    docker_client: docker.DockerClient,
    uuid: str,
    kept: Container,
    reuse: str,
    reason: str,
) -> None:
    """Redeploy (with `reuse_volumes=reuse`) and check the Action failed saying `reason`, and
    the container runs on as the very Docker container it was."""
    response = alice.request("POST", f"/api/v1/container/{uuid}/redeploy/?reuse_volumes={reuse}")
    action = alice.wait_action(response.headers["X-Tutum-Action-URI"])
    assert action["state"] == "Failed"
    assert reason in action["reason"]
    assert alice.wait_state(uuid, "Running")
    [container] = docker_containers(docker_client, uuid)
    assert (container.id, container.status) == (kept.id, "running")


def test_a_redeploy_that_would_empty_a_shared_volume_fails_and_changes_nothing(
    alice: ApiClient, docker_client: docker.DockerClient, volumes: list[str]
) -> None:
    shared = [{"container_path": "/named", "volume": f"shared-{uuid_lib.uuid4().hex[:8]}"}]
    first, kept = running_container(
        alice, docker_client, name="shares-a", run_command=SLEEP, bindings=shared
    )
    running_container(alice, docker_client, name="shares-b", run_command=SLEEP, bindings=shared)
    volumes += [m["Name"] for m in kept.attrs["Mounts"]]

    redeploy_fails_and_keeps(alice, docker_client, first["uuid"], kept, "false", "also used by")


@pytest.mark.parametrize("reuse", ["true", "false"])
def test_a_redeploy_whose_image_is_gone_fails_and_keeps_the_old_container(
    alice: ApiClient, docker_client: docker.DockerClient, image: str, reuse: str
) -> None:
    # A tag of the test image that only this container uses, removed once it runs.
    tag = f"controlplane/redeploy-gone:{uuid_lib.uuid4().hex[:8]}"
    docker_client.images.get(image).tag(tag)
    try:
        body, kept = running_container(
            alice, docker_client, image_name=tag, name="imagegone", run_command=SLEEP
        )
    finally:
        docker_client.images.remove(tag)

    redeploy_fails_and_keeps(alice, docker_client, body["uuid"], kept, reuse, "is not present")
