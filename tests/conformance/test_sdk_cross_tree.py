"""One container, two clients: made through one URL tree, driven through the other.

Both trees are views of one store (tutum-api.md, decision 1); each answers in its own form, so the
Docker Cloud SDK, which calls the `resource_uri` it was given verbatim, never lands on a Tutum URL
and vice versa.
"""

from __future__ import annotations

import docker
import pytest

from controlplane.core.messages import LABEL_CONTAINER_UUID
from tests.conformance.sdk import Sdk, uuid_from_uri

pytestmark = [pytest.mark.integration, pytest.mark.conformance]

SERVER = 'sh -c "exec sleep 3600"'


@pytest.mark.parametrize("maker_name", ["tutum", "dockercloud"])
def test_container_made_in_one_tree_is_driven_in_the_other(
    tutum_sdk: Sdk, dockercloud_sdk: Sdk, maker_name: str, docker_client: docker.DockerClient
) -> None:
    maker, driver = (
        (tutum_sdk, dockercloud_sdk) if maker_name == "tutum" else (dockercloud_sdk, tutum_sdk)
    )
    created = maker.create(name=f"from-{maker.name}", run_command=SERVER)
    uuid = created["uuid"]
    assert created["resource_uri"] == f"{maker.container_collection}{uuid}/"

    # The other client sees it in its own tree.
    driven = driver.Container.fetch(uuid)
    assert driven.resource_uri == f"{driver.container_collection}{uuid}/"
    assert uuid in [c.uuid for c in driver.Container.list(name=f"from-{maker.name}")]

    # Start through the driver; the maker's own object follows it.
    assert driven.start() is True
    start_uri = driver.action_uri(driven)
    assert start_uri.startswith(driver.action_collection)
    watched = maker.Container.fetch(uuid)
    maker.wait_state(watched, "Running")
    [real] = docker_client.containers.list(filters={"label": f"{LABEL_CONTAINER_UUID}={uuid}"})
    assert real.status == "running"

    # The action made through one tree is the same action in the other, in that tree's form.
    seen_by_maker = maker.wait_action(start_uri)
    assert seen_by_maker.resource_uri == f"{maker.action_collection}{uuid_from_uri(start_uri)}/"
    assert seen_by_maker.object == watched.resource_uri
    assert seen_by_maker.state == "Success"

    # Stop through the maker, terminate through the driver.
    assert watched.stop() is True
    driver.wait_state(driven, "Stopped")
    assert driven.delete() is True
    assert driven.state == "Terminating"
    maker.wait_state(watched, "Terminated")
    assert driver.Container.fetch(uuid).state == "Terminated"
    assert (
        docker_client.containers.list(all=True, filters={"label": f"{LABEL_CONTAINER_UUID}={uuid}"})
        == []
    )
