"""Services and stacks driven by each SDK's own classes (`Service`, `Stack`) on its URL tree,
checked on the real Docker Engine: create with `save()`, `start`, a PATCH of the target by
`save()` then `scale`, `redeploy`, `stop`, `delete`; a stack made from services, started,
exported and terminated."""

from __future__ import annotations

from typing import Any

import docker
import pytest

from controlplane.core.messages import LABEL_CONTAINER_UUID
from tests.conformance.sdk import Sdk, uuid_from_uri
from tests.support.locations import IMAGE
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.conformance]

SLEEPER = 'sh -c "exec sleep 3600"'


def wait_service(service: Any, state: str, count: int | None = None, timeout: float = 60) -> Any:
    def reached() -> bool:
        service.refresh()
        right_count = count is None or service.current_num_containers == count
        return bool(service.state == state and right_count)

    wait_for(reached, timeout, interval=0.2)
    return service


def running_on_docker(client: docker.DockerClient, container_uris: list[str]) -> int:
    running = 0
    for uri in container_uris:
        label = f"{LABEL_CONTAINER_UUID}={uuid_from_uri(uri)}"
        listed = client.containers.list(filters={"label": label, "status": "running"}, sparse=True)
        running += len(listed)
    return running


def test_a_service_lives_its_life_through_the_sdk(
    sdk: Sdk, docker_client: docker.DockerClient
) -> None:
    service = sdk.module.Service.create(
        image=IMAGE, name=f"sdk-{sdk.name}", target_num_containers=2, run_command=SLEEPER
    )
    assert service.save() is True
    assert service.state == "Init"
    assert service.start() is True
    assert sdk.action_uri(service).startswith(sdk.action_collection)
    wait_service(service, "Running", 2)
    assert running_on_docker(docker_client, service.containers) == 2

    service.target_num_containers = 3
    assert service.save() is True
    assert service.scale() is True
    wait_service(service, "Running", 3)
    assert running_on_docker(docker_client, service.containers) == 3

    assert service.redeploy() is True
    redeploy = sdk.wait_action(sdk.action_uri(service), timeout=90)
    assert redeploy.state == "Success"
    wait_service(service, "Running", 3)

    assert service.stop() is True
    wait_service(service, "Stopped")
    assert running_on_docker(docker_client, service.containers) == 0
    assert service.delete() is True
    # Docker Cloud's SDK forgets a deleted object's URI: it is fetched again to be watched.
    wait_service(sdk.module.Service.fetch(service.uuid), "Terminated")


def test_a_stack_is_made_started_exported_and_terminated_through_the_sdk(sdk: Sdk) -> None:
    stack = sdk.module.Stack.create(
        name=f"sdk-stack-{sdk.name}",
        services=[
            {"name": "front", "image": IMAGE, "command": SLEEPER, "links": ["back"]},
            {"name": "back", "image": IMAGE, "command": SLEEPER},
        ],
    )
    assert stack.save() is True
    assert stack.state == "Not Running"
    assert stack.start() is True
    action = sdk.wait_action(sdk.action_uri(stack), timeout=60)
    assert action.state == "Success"
    stack.refresh()
    assert stack.state == "Running"
    exported = stack.export()
    assert set(exported) == {"front", "back"}
    assert exported["front"]["links"] == ["back"]
    assert stack.delete() is True
    again = sdk.module.Stack.fetch(stack.uuid)
    wait_for(lambda: (again.refresh(), again.state)[1] == "Terminated", 60, interval=0.2)
