"""Retry safety: operations delivered again (as Redis does after a crash with acks_late) or twice
at once never make a second container and never undo a later change.

The duplicates are sent straight to the node's queue with the control plane's own dispatcher,
which is exactly what a redelivery looks like to the agent. They carry the Action uuid of a real
API request: the agent runs an operation only on a granted claim, so a copy of an Action that
has since closed or been overtaken is refused before it touches Docker, and copies of one still
in progress are run, and must not make a second container.
"""

from __future__ import annotations

import dataclasses
import signal
import time
import uuid as uuid_lib
from collections.abc import Iterator

import docker
import pytest
import redis

from controlplane.core.messages import ContainerSpec, Operation
from controlplane.dispatch import Dispatcher
from tests.support.api import ApiClient
from tests.support.broker import wait_broker_idle
from tests.support.containers import SERVER, action_of, docker_containers
from tests.support.plane import Plane
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def dispatcher(plane: Plane) -> Iterator[Dispatcher]:
    with plane.dispatcher() as dispatcher:
        yield dispatcher


def start_operation(
    container: dict, *, issued_ns: int, action_uuid: str | None = None
) -> Operation:
    spec = ContainerSpec(
        uuid=container["uuid"],
        unique_name=container["unique_name"],
        image_name=container["image_name"],
        run_command=container["run_command"],
    )
    return Operation(
        action="start",
        action_uuid=action_uuid or str(uuid_lib.uuid4()),
        container_uuid=container["uuid"],
        rollback_state="Init",
        issued_ns=issued_ns,
        spec=spec.to_dict(),
    )


def redeliver(
    dispatcher: Dispatcher, db: redis.Redis, plane: Plane, operation: Operation, times: int = 1
) -> None:
    """Deliver `operation` to the node again, as Redis does after a crash, and wait until the
    agent has handled every copy."""
    for _ in range(times):
        dispatcher.send_operation(plane.node_uuid, operation)
    wait_broker_idle(db, plane)


def test_redelivered_start_of_a_running_container_changes_nothing(
    alice: ApiClient,
    plane: Plane,
    dispatcher: Dispatcher,
    redis_db: redis.Redis,
    docker_client: docker.DockerClient,
) -> None:
    created = alice.create(name="redeliver", run_command=SERVER)
    issued = time.time_ns()
    started = alice.act(created["uuid"], "start")
    running = alice.wait_state(created["uuid"], "Running")
    [container] = docker_containers(docker_client, created["uuid"])
    started_at = container.attrs["State"]["StartedAt"]

    duplicate = start_operation(created, issued_ns=issued, action_uuid=action_of(started))
    redeliver(dispatcher, redis_db, plane, duplicate, times=2)

    [again] = docker_containers(docker_client, created["uuid"])
    assert again.id == container.id
    assert again.attrs["State"]["StartedAt"] == started_at
    assert alice.container(created["uuid"])["started_datetime"] == running["started_datetime"]


def test_concurrent_duplicate_starts_make_exactly_one_container(
    alice: ApiClient,
    plane: Plane,
    dispatcher: Dispatcher,
    redis_db: redis.Redis,
    docker_client: docker.DockerClient,
) -> None:
    created = alice.create(name="race", run_command=SERVER)
    issued = time.time_ns()
    started = alice.act(created["uuid"], "start")
    operation = start_operation(created, issued_ns=issued, action_uuid=action_of(started))
    redeliver(dispatcher, redis_db, plane, operation, times=4)

    assert len(docker_containers(docker_client, created["uuid"])) == 1
    assert alice.wait_state(created["uuid"], "Running")["state"] == "Running"


def test_start_redelivered_after_a_stop_does_not_restart_the_container(
    alice: ApiClient,
    plane: Plane,
    dispatcher: Dispatcher,
    redis_db: redis.Redis,
    docker_client: docker.DockerClient,
) -> None:
    created = alice.create(name="overtaken", run_command=SERVER)
    issued = time.time_ns()
    started = alice.act(created["uuid"], "start")
    alice.wait_state(created["uuid"], "Running")
    alice.act(created["uuid"], "stop")
    alice.wait_state(created["uuid"], "Stopped")

    original = start_operation(created, issued_ns=issued, action_uuid=action_of(started))
    redeliver(dispatcher, redis_db, plane, original)

    [container] = docker_containers(docker_client, created["uuid"])
    assert container.status == "exited"
    assert alice.container(created["uuid"])["state"] == "Stopped"


def redeploy_operation(container: dict, *, issued_ns: int, action_uuid: str) -> Operation:
    """A redeploy of a running container, as the API would have sent it at `issued_ns`."""
    start = start_operation(container, issued_ns=issued_ns, action_uuid=action_uuid)
    return dataclasses.replace(start, action="redeploy", rollback_state="Running")


def redeploy_through_the_api(alice: ApiClient, uuid: str) -> str:
    """Redeploy and wait for the Action's success; returns its uuid."""
    response = alice.request("POST", f"/api/v1/container/{uuid}/redeploy/")
    assert alice.wait_action(response.headers["X-Tutum-Action-URI"])["state"] == "Success"
    return action_of(response)


def test_redeploy_redelivered_after_it_finished_does_not_replace_the_container_again(
    alice: ApiClient,
    plane: Plane,
    dispatcher: Dispatcher,
    redis_db: redis.Redis,
    docker_client: docker.DockerClient,
) -> None:
    created = alice.create(name="redeploy-once", run_command=SERVER)
    alice.act(created["uuid"], "start")
    alice.wait_state(created["uuid"], "Running")
    issued = time.time_ns()  # after the first container was made, before the redeploy was
    redeployed = redeploy_through_the_api(alice, created["uuid"])
    [new] = docker_containers(docker_client, created["uuid"])
    started_at = new.attrs["State"]["StartedAt"]

    duplicate = redeploy_operation(created, issued_ns=issued, action_uuid=redeployed)
    redeliver(dispatcher, redis_db, plane, duplicate, times=2)

    [again] = docker_containers(docker_client, created["uuid"])
    assert again.id == new.id
    assert again.attrs["State"]["StartedAt"] == started_at
    assert alice.container(created["uuid"])["state"] == "Running"


def test_redeploy_redelivered_after_a_stop_does_not_restart_the_new_container(
    alice: ApiClient,
    plane: Plane,
    dispatcher: Dispatcher,
    redis_db: redis.Redis,
    docker_client: docker.DockerClient,
) -> None:
    created = alice.create(name="redeploy-overtaken", run_command=SERVER)
    alice.act(created["uuid"], "start")
    alice.wait_state(created["uuid"], "Running")
    issued = time.time_ns()
    redeployed = redeploy_through_the_api(alice, created["uuid"])
    alice.act(created["uuid"], "stop")
    alice.wait_state(created["uuid"], "Stopped")
    [new] = docker_containers(docker_client, created["uuid"])

    late = redeploy_operation(created, issued_ns=issued, action_uuid=redeployed)
    redeliver(dispatcher, redis_db, plane, late)

    [again] = docker_containers(docker_client, created["uuid"])
    assert again.id == new.id
    assert again.status == "exited"
    assert alice.container(created["uuid"])["state"] == "Stopped"


def test_a_redeploy_interrupted_after_setting_the_old_container_aside_finishes_the_job(
    alice: ApiClient,
    plane: Plane,
    dispatcher: Dispatcher,
    redis_db: redis.Redis,
    docker_client: docker.DockerClient,
) -> None:
    # What a crash leaves after the first steps of a redeploy: the old container stopped and
    # renamed aside, no new one yet. The redeploy's task, delivered again while its Action is
    # still open, must carry on from there. The agent is held (SIGSTOP) while the redeploy is
    # accepted and the crash's leftovers are made, so the first thing it sees is the task.
    created = alice.create(
        name="redeploy-crash",
        run_command="sh -c '[ -f /data/f ] && echo kept; touch /data/f; exec sleep 3600'",
        bindings=[{"container_path": "/data"}],
    )
    alice.act(created["uuid"], "start")
    alice.wait_state(created["uuid"], "Running")
    [old] = docker_containers(docker_client, created["uuid"])
    wait_for(lambda: old.exec_run("test -f /data/f").exit_code == 0)
    agent = plane.services["agent"].process
    agent.send_signal(signal.SIGSTOP)
    try:
        response = alice.request("POST", f"/api/v1/container/{created['uuid']}/redeploy/")
        assert response.status_code == 202
        old.stop(timeout=1)
        old.rename(created["unique_name"] + "-replaced")
    finally:
        agent.send_signal(signal.SIGCONT)
    assert alice.wait_action(response.headers["X-Tutum-Action-URI"])["state"] == "Success"
    wait_broker_idle(redis_db, plane)

    [new] = docker_containers(docker_client, created["uuid"])
    assert new.id != old.id
    assert new.name == created["unique_name"]
    assert new.status == "running"
    wait_for(lambda: "kept" in alice.logs(created["uuid"]))
    assert alice.container(created["uuid"])["state"] == "Running"
