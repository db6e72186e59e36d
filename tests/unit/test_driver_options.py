"""DockerDriver.create_options: the docker-py arguments for a spec (no Docker connection made)."""

from __future__ import annotations

import pytest

from controlplane.messages import LABEL_CONTAINER_UUID, LABEL_NODE_UUID, ContainerSpec
from workers.driver import RESTART_POLICIES, DockerDriver

NODE_UUID = "6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01"
CONTAINER_UUID = "0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def driver() -> DockerDriver:
    # Bypass __init__, which opens a Docker client; create_options reads only node_uuid.
    driver = DockerDriver.__new__(DockerDriver)
    driver.node_uuid = NODE_UUID
    return driver


def spec(**fields: object) -> ContainerSpec:
    values: dict[str, object] = {
        "uuid": CONTAINER_UUID,
        "unique_name": "web-0b6e3f2a",
        "image_name": "busybox:latest",
    }
    values.update(fields)
    return ContainerSpec.from_dict(values)


def test_a_minimal_spec_leaves_docker_defaults_alone(driver: DockerDriver) -> None:
    assert driver.create_options(spec()) == {
        "image": "busybox:latest",
        "name": "web-0b6e3f2a",
        "command": None,
        "entrypoint": None,
        "environment": {},
        "working_dir": None,
        "labels": {LABEL_CONTAINER_UUID: CONTAINER_UUID, LABEL_NODE_UUID: NODE_UUID},
        "mem_limit": None,
        "cpu_shares": None,
        "restart_policy": None,
        "init": True,
        "detach": True,
    }


def test_a_full_spec_becomes_docker_arguments(driver: DockerDriver) -> None:
    options = driver.create_options(
        spec(
            run_command="sleep 60",
            entrypoint="/bin/sh -c",
            working_dir="/srv",
            container_envvars=[{"key": "A", "value": "1"}, {"key": "B", "value": ""}],
            labels={"team": "core"},
            memory=64,
            cpu_shares=512,
            autorestart="ON_FAILURE",
        )
    )
    assert options["command"] == "sleep 60"
    assert options["entrypoint"] == "/bin/sh -c"
    assert options["working_dir"] == "/srv"
    assert options["environment"] == {"A": "1", "B": ""}
    assert options["labels"]["team"] == "core"
    assert options["mem_limit"] == "64m"
    assert options["cpu_shares"] == 512
    assert options["restart_policy"] == {"Name": "on-failure"}


def test_the_control_plane_labels_cannot_be_overridden_by_user_labels(
    driver: DockerDriver,
) -> None:
    options = driver.create_options(
        spec(labels={LABEL_CONTAINER_UUID: "forged", LABEL_NODE_UUID: "forged"})
    )
    assert options["labels"][LABEL_CONTAINER_UUID] == CONTAINER_UUID
    assert options["labels"][LABEL_NODE_UUID] == NODE_UUID


@pytest.mark.parametrize(
    ("autorestart", "policy"),
    [("OFF", None), ("ON_FAILURE", {"Name": "on-failure"}), ("ALWAYS", {"Name": "always"})],
)
def test_every_autorestart_value_has_a_restart_policy(
    driver: DockerDriver, autorestart: str, policy: dict[str, str] | None
) -> None:
    assert driver.create_options(spec(autorestart=autorestart))["restart_policy"] == policy


def test_the_restart_policies_cover_exactly_the_accepted_autorestart_values() -> None:
    from controlplane.validation import AUTORESTART_VALUES

    assert set(RESTART_POLICIES) == set(AUTORESTART_VALUES)
