"""The real Docker containers behind the control plane's, made through the API, read and removed
with docker-py."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
import requests
from docker.models.containers import Container

from controlplane.core.messages import LABEL_CONTAINER_UUID, LABEL_NODE_UUID
from tests.support.api import ApiClient

SERVER = 'sh -c "echo out-line; echo err-line >&2; exec sleep 3600"'
SLEEP = "sleep 3600"
# Ignores SIGTERM (docker-init forwards it), so a stop waits out the whole stop timeout and an
# agent can be killed in the middle of one.
STUBBORN = "sh -c 'trap \"\" TERM; while true; do sleep 1; done'"


def action_of(response: requests.Response) -> str:
    """The uuid of the Action an accepted (202) request names in its action header."""
    assert response.status_code == 202, response.text
    return response.headers["X-Tutum-Action-URI"].rstrip("/").rsplit("/", 1)[-1]


def node_uuid_of(container: dict[str, Any]) -> str:
    """The uuid of the node a container is placed on, from the node URI the API shows."""
    return str(container["node"]).rstrip("/").rsplit("/", 1)[-1]


def running(user: ApiClient, **fields: Any) -> dict[str, Any]:
    """Create with `fields`, start, and return the API's view once it is Running."""
    created = user.create(**fields)
    action_of(user.act(created["uuid"], "start"))
    return user.wait_state(created["uuid"], "Running")


def docker_containers(client: docker.DockerClient, uuid: str) -> list:
    # ignore_removed: one removed between Docker's list and its inspect (an orphan collected,
    # a start called off) is gone, not an error.
    label = f"{LABEL_CONTAINER_UUID}={uuid}"
    return client.containers.list(all=True, filters={"label": label}, ignore_removed=True)


def running_container(
    alice: ApiClient, docker_client: docker.DockerClient, **fields: Any
) -> tuple[dict[str, Any], Container]:
    """Create with `fields`, start, wait for Running; the API's view and the Docker container."""
    created = alice.create(**fields)
    assert alice.act(created["uuid"], "start").status_code == 202
    body = alice.wait_state(created["uuid"], "Running")
    [container] = docker_containers(docker_client, created["uuid"])
    return body, container


def remove_node_containers(client: docker.DockerClient, node_uuid: str) -> None:
    """Remove the node's containers; one the agent is removing at the same moment (a test that
    ended with a terminate) is already on its way out."""
    # ignore_removed: one the agent removed between Docker's list and its inspect is gone.
    labelled = {"label": f"{LABEL_NODE_UUID}={node_uuid}"}
    for container in client.containers.list(all=True, filters=labelled, ignore_removed=True):
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
