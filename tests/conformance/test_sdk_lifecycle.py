"""The container lifecycle driven by each SDK on its own URL tree, checked on the real Docker
Engine.

Create goes through the SDK's own HTTP layer (the SDKs refuse `Container.save()`); everything after
that is the SDK's public API: `Container.fetch`, `start`, `refresh`, `stop`, `delete`.
"""

from __future__ import annotations

import uuid as uuid_lib

import docker
import pytest

from controlplane.core.messages import LABEL_CONTAINER_UUID, LABEL_NODE_UUID
from tests.conformance.sdk import Sdk, uuid_from_uri
from tests.support.plane import Plane
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.conformance]

SERVER = 'sh -c "echo hello-from-sdk; exec sleep 3600"'


def docker_containers(client: docker.DockerClient, uuid: str) -> list:
    return client.containers.list(all=True, filters={"label": f"{LABEL_CONTAINER_UUID}={uuid}"})


def test_create_through_send_request_answers_the_container_in_init(sdk: Sdk) -> None:
    created = sdk.create(name="made-by-sdk", run_command=SERVER, labels={"team": "blue"})

    assert created["state"] == "Init"
    assert created["resource_uri"] == f"{sdk.container_collection}{created['uuid']}/"
    assert created[sdk.action_uri_attr].startswith(sdk.action_collection)
    fetched = sdk.Container.fetch(created["uuid"])
    assert (fetched.name, fetched.state, fetched.labels) == (
        "made-by-sdk",
        "Init",
        {"team": "blue"},
    )
    assert fetched.image_name == "controlplane/busybox:latest"
    assert fetched.unique_name == f"made-by-sdk-{created['uuid'][:8]}"


def test_full_lifecycle_drives_a_real_container(
    sdk: Sdk, plane: Plane, docker_client: docker.DockerClient
) -> None:
    uuid = sdk.create(name="lifecycle", run_command=SERVER)["uuid"]
    container = sdk.Container.fetch(uuid)
    assert container.state == "Init"
    assert container.resource_uri == f"{sdk.container_collection}{uuid}/"
    assert sdk.action_uri(container) == ""  # a GET names no action
    assert docker_containers(docker_client, uuid) == []

    # start: True, the container object reloaded in Starting, the action named in the header
    assert container.start() is True
    assert container.state == "Starting"
    start_uri = sdk.action_uri(container)
    assert start_uri.startswith(sdk.action_collection)
    sdk.wait_state(container, "Running")
    assert container.started_datetime.endswith("+0000")
    start_action = sdk.wait_action(start_uri)
    assert (start_action.state, start_action.action) == ("Success", "Container Start")
    assert start_action.resource_uri == start_uri

    [real] = docker_containers(docker_client, uuid)
    assert real.status == "running"
    assert real.name == container.unique_name
    assert real.labels[LABEL_NODE_UUID] == plane.node_uuid

    # stop
    assert container.stop() is True
    assert container.state == "Stopping"
    stop_uri = sdk.action_uri(container)
    assert stop_uri.startswith(sdk.action_collection) and stop_uri != start_uri
    sdk.wait_state(container, "Stopped")
    assert sdk.wait_action(stop_uri).state == "Success"
    real.reload()
    assert real.status == "exited"
    assert container.exit_code is not None

    # delete: 202 with the container body, which the SDK loads
    assert container.delete() is True
    assert container.state == "Terminating"
    delete_uri = sdk.action_uri(container)
    assert delete_uri.startswith(sdk.action_collection)
    if sdk.name == "dockercloud":
        # python-dockercloud drops the object's URI after a delete, whatever the answer ...
        with pytest.raises(sdk.api_error, match="You must save the object"):
            container.refresh()
    else:
        # ... python-tutum keeps it, so the same object can follow the termination.
        sdk.wait_state(container, "Terminated")
    assert sdk.wait_action(delete_uri).state == "Success"

    # Terminated stays fetchable, and the Docker container is gone.
    terminated = wait_for(lambda: _in_state(sdk, uuid, "Terminated"))
    assert terminated.destroyed_datetime.endswith("+0000")
    assert docker_containers(docker_client, uuid) == []


def _in_state(sdk: Sdk, uuid: str, state: str) -> object:
    container = sdk.Container.fetch(uuid)
    return container if container.state == state else None


def test_stop_of_a_container_in_init_is_refused_with_409(sdk: Sdk) -> None:
    container = sdk.Container.fetch(sdk.create(name="never-started")["uuid"])

    with pytest.raises(sdk.api_error, match="Status 409") as raised:
        container.stop()

    assert not isinstance(raised.value, sdk.auth_error)
    assert "transition-refused" in str(raised.value)
    assert container.state == "Init"  # the SDK object was not reloaded
    container.refresh()
    assert container.state == "Init"  # and nothing changed on the server


def test_start_of_a_terminated_container_is_refused_with_409(sdk: Sdk) -> None:
    container = sdk.Container.fetch(sdk.create(name="gone")["uuid"])
    assert container.delete() is True
    wait_for(lambda: _in_state(sdk, container.uuid, "Terminated"))
    terminated = sdk.Container.fetch(container.uuid)

    with pytest.raises(sdk.api_error, match="Status 409"):
        terminated.start()


def test_unknown_uuids_are_an_api_error_with_404(sdk: Sdk) -> None:
    unknown = str(uuid_lib.uuid4())

    for resource in (sdk.Container, sdk.Action, sdk.Node):
        with pytest.raises(sdk.api_error, match="Status 404") as raised:
            resource.fetch(unknown)
        assert not isinstance(raised.value, sdk.auth_error)
        assert unknown in str(raised.value)


def test_rest_logs_through_expand_attribute(sdk: Sdk) -> None:
    """The seed-era REST logs (tutum-api.md §6.1): `GET .../logs/` -> {"logs": ...}, read the way
    python-tutum <= 0.14 did, through `_expand_attribute("logs")` (still in both SDKs)."""
    container = sdk.Container.fetch(sdk.create(name="talker", run_command=SERVER)["uuid"])
    assert container._expand_attribute("logs") == ""  # Init: no Docker container yet

    container.start()
    sdk.wait_state(container, "Running")

    logs = wait_for(lambda: container._expand_attribute("logs"))
    assert logs == "hello-from-sdk\n"
    # The key only came back in the answer: the object has no `logs` attribute shadowing the
    # SDK's logs() method.
    assert callable(container.logs)


def test_actions_list_and_fetch(sdk: Sdk) -> None:
    created = sdk.create(name="audited", run_command=SERVER)
    container = sdk.Container.fetch(created["uuid"])
    container.start()
    start_uri = sdk.action_uri(container)
    sdk.wait_state(container, "Running")

    actions = sdk.Action.list(object=container.resource_uri)

    assert [(a.action, a.resource_uri) for a in actions] == [  # newest first
        ("Container Start", start_uri),
        ("Container Create", created[sdk.action_uri_attr]),
    ]
    assert all(a.object == container.resource_uri for a in actions)
    assert all(a.resource_uri.startswith(sdk.action_collection) for a in actions)
    assert actions[0].start_date.endswith("+0000")
    fetched = sdk.Action.fetch(uuid_from_uri(start_uri))
    assert (fetched.uuid, fetched.object, fetched.method) == (
        uuid_from_uri(start_uri),
        container.resource_uri,
        "POST",
    )
    assert fetched.user_agent.startswith(f"python-{sdk.name}/")
    # Every action of the user is listed too, walking pages as needed, newest first.
    everything = [a.uuid for a in sdk.Action.list()]
    assert everything.index(actions[0].uuid) < everything.index(actions[1].uuid)


def test_nodes_list_and_fetch(sdk: Sdk, plane: Plane) -> None:
    nodes = sdk.Node.list()

    [node] = [n for n in nodes if n.uuid == plane.node_uuid]
    assert node.state == "Deployed"
    assert node.resource_uri == f"{sdk.node_collection}{plane.node_uuid}/"
    fetched = sdk.Node.fetch(plane.node_uuid)
    assert (fetched.nickname, fetched.resource_uri) == ("test-node-1", node.resource_uri)
    # A container's node is the node's resource URI in the same tree.
    container = sdk.Container.fetch(sdk.create(name="placed")["uuid"])
    assert container.node == node.resource_uri
