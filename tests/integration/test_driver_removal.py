"""Two removals of one container at once, as a redelivered terminate, the autodestroy or a
`docker rm` on the node make: Docker refuses the second while the first runs (409, "removal
... is already in progress"), and the agent's driver must wait for the first rather than fail
the terminate. Driven on the real Engine, with a volume large enough that the removal lasts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import docker
import pytest

from controlplane.core.lifecycle import State
from controlplane.core.messages import LABEL_CONTAINER_UUID, LABEL_NODE_UUID
from tests.support.locations import DOCKER_URL, IMAGE
from workers.docker.driver import DockerDriver
from workers.engine import Observation
from workers.inflight import Inflight

pytestmark = pytest.mark.integration

FILES = 20000  # in the anonymous volume: removing them makes the removal last a second or so


@pytest.fixture
def driver() -> Iterator[DockerDriver]:
    driver = DockerDriver(DOCKER_URL, node_uuid=str(uuid.uuid4()), inflight=Inflight())
    try:
        yield driver
    finally:
        driver.close()


def test_two_removals_at_once_both_end_terminated(
    driver: DockerDriver, docker_client: docker.DockerClient
) -> None:
    container_uuid = str(uuid.uuid4())
    fill = f"cd /v && i=0; while [ $i -lt {FILES} ]; do echo x > f$i; i=$((i+1)); done; touch done"
    created = docker_client.api.create_container(
        IMAGE,
        ["sh", "-c", f"{fill}; sleep 3600"],
        volumes=["/v"],
        labels={LABEL_CONTAINER_UUID: container_uuid, LABEL_NODE_UUID: driver.node_uuid},
    )
    try:
        docker_client.api.start(created)
        deadline = time.monotonic() + 120
        while docker_client.containers.get(created["Id"]).exec_run("test -e /v/done").exit_code:
            assert time.monotonic() < deadline, "the volume was not filled in 120 s"
            time.sleep(0.5)
        [volume] = [m["Name"] for m in docker_client.api.inspect_container(created)["Mounts"]]

        outcomes: list[Observation | BaseException] = []

        def remove() -> None:
            try:
                outcomes.append(driver.remove(container_uuid))
            except Exception as exc:  # recorded, so the test names it
                outcomes.append(exc)

        threads = [threading.Thread(target=remove) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        ended = [o if isinstance(o, BaseException) else o.state for o in outcomes]
        assert ended == [State.TERMINATED] * 2
        assert (
            docker_client.containers.list(
                all=True, filters={"label": f"{LABEL_CONTAINER_UUID}={container_uuid}"}
            )
            == []
        )
        assert volume not in [v.name for v in docker_client.volumes.list()]
    finally:
        for left in docker_client.containers.list(
            all=True, filters={"label": f"{LABEL_CONTAINER_UUID}={container_uuid}"}
        ):
            left.remove(force=True, v=True)
