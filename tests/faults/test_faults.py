"""Fault injection on real processes: agent, reporter and Redis killed mid-operation, an API
killed between its commit and its task, tasks delivered late and forged, with the user acting in
between. After each fault the plane must
converge (tests.support.invariants) and no stale or forged task may have taken effect.

A redelivery is made as kombu's Redis transport makes it once the visibility timeout (an hour
by default, 60 s at the least) has passed: the deliveries left unacknowledged go back on their
queue (`tests.support.broker.redeliver_unacked`), so the tests need not wait the timeout out.
"""

from __future__ import annotations

import signal
import time
import uuid as uuid_lib

import docker
import pytest
from celery import Celery
from sqlalchemy import select

from controlplane.core import signing
from controlplane.core.lifecycle import Action
from controlplane.core.messages import (
    TASK_START,
    TASK_STOP,
    ContainerSpec,
    Operation,
    node_queue,
)
from controlplane.db import containers
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import Database
from controlplane.db.models import User
from tests.support.api import ApiClient
from tests.support.broker import redeliver_unacked, unacked, wait_broker_idle
from tests.support.containers import SERVER, STUBBORN, action_of, docker_containers, running
from tests.support.invariants import wait_converged
from tests.support.plane import Plane
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def agent_log(plane: Plane) -> str:
    return plane.services["agent"].log_path.read_text(errors="replace")


def kill_and_restart(plane: Plane, name: str) -> None:
    service = plane.services[name]
    service.process.send_signal(signal.SIGKILL)
    service.process.wait()
    service.restart()


def start_of(container: dict, *, action_uuid: str, **spec: object) -> Operation:
    return Operation(
        action="start",
        action_uuid=action_uuid,
        container_uuid=container["uuid"],
        rollback_state="Init",
        issued_ns=time.time_ns(),
        spec=ContainerSpec(
            uuid=container["uuid"],
            unique_name=container["unique_name"],
            image_name=container["image_name"],
            run_command=container["run_command"],
            **spec,  # type: ignore[arg-type]
        ).to_dict(),
    )


def act_in_between(user: ApiClient, uuid: str) -> str:
    """The user's next intent, once the killed operation was settled: the opposite of where the
    container is (a Terminated one is left alone). Returns the state the user asked for."""
    state = wait_for(
        lambda: (s := user.container(uuid)["state"]) in ("Running", "Stopped", "Terminated") and s
    )
    if state == "Terminated":
        return state
    wanted = "stop" if state == "Running" else "start"
    action_of(user.act(uuid, wanted))
    return user.wait_state(uuid, "Stopped" if wanted == "stop" else "Running")["state"]


@pytest.mark.parametrize("operation", ["stop", "redeploy", "terminate"])
def test_agent_killed_mid_operation_then_the_user_acts_and_the_late_copy_is_refused(
    fault_plane: Plane,
    carol: ApiClient,
    broker: RedisServer,
    docker_client: docker.DockerClient,
    operation: str,
) -> None:
    """The agent dies while Docker waits out a container that ignores SIGTERM; the stuck timeout
    settles the record, the user acts on it, and then Redis redelivers the old task: its claim
    is refused, and the user's intent stands."""
    uuid = running(carol, name=f"stubborn-{operation}", run_command=STUBBORN)["uuid"]
    killed = action_of(carol.act(uuid, operation))
    wait_for(lambda: carol.action(f"/api/v1/action/{killed}/")["state"] == "In progress")
    kill_and_restart(fault_plane, "agent")
    # Settled from the node's picture once the stuck timeout (20 s) has passed.
    carol.wait_action(f"/api/v1/action/{killed}/", timeout=60)
    wanted = act_in_between(carol, uuid)

    # Only the killed delivery is left unacknowledged once what the new agent runs meanwhile
    # (the user's action, or the collection of the container a settled terminate left) is done.
    queue = node_queue(fault_plane.node_uuid)
    wait_for(lambda: unacked(broker.client(), queue) == 1, timeout=30)
    assert redeliver_unacked(broker.client(), queue) == 1
    wait_broker_idle(broker.client(), fault_plane)
    wait_converged(fault_plane, [carol], docker_client)
    assert carol.container(uuid)["state"] == wanted
    assert f"the claim of action {killed} was refused" in agent_log(fault_plane)


def test_agent_killed_mid_start_burst_then_the_user_terminates_and_nothing_comes_back(
    fault_plane: Plane, carol: ApiClient, broker: RedisServer, docker_client: docker.DockerClient
) -> None:
    """A burst of first starts, the agent killed as soon as one of them runs; once all are
    settled the user terminates every container, and then Redis redelivers whatever the dead
    agent held: no container may come back."""
    created = [carol.create(name=f"first-{n}", run_command=SERVER) for n in range(6)]
    starts = [action_of(carol.act(c["uuid"], "start")) for c in created]
    wait_for(
        lambda: any(carol.action(f"/api/v1/action/{a}/")["state"] != "Pending" for a in starts),
        interval=0.02,
    )
    kill_and_restart(fault_plane, "agent")
    for start in starts:
        carol.wait_action(f"/api/v1/action/{start}/", timeout=60)
    for container in created:
        action_of(carol.act(container["uuid"], "terminate"))
    for container in created:
        carol.wait_state(container["uuid"], "Terminated")

    redeliver_unacked(broker.client(), node_queue(fault_plane.node_uuid))
    wait_broker_idle(broker.client(), fault_plane)
    wait_converged(fault_plane, [carol], docker_client)
    for container in created:
        assert carol.container(container["uuid"])["state"] == "Terminated"
        assert docker_containers(docker_client, container["uuid"]) == []


def test_a_start_delivered_after_the_user_terminated_never_brings_the_container_back(
    fault_plane: Plane,
    carol: ApiClient,
    broker: RedisServer,
    docker_client: docker.DockerClient,
    raw: Celery,
) -> None:
    created = carol.create(name="revenant", run_command=SERVER)
    start = action_of(carol.act(created["uuid"], "start"))
    carol.wait_state(created["uuid"], "Running")
    action_of(carol.act(created["uuid"], "terminate"))
    carol.wait_state(created["uuid"], "Terminated")

    late = start_of(created, action_uuid=start)
    raw.send_task(
        TASK_START, kwargs={"operation": late.to_dict()}, queue=node_queue(fault_plane.node_uuid)
    )
    wait_broker_idle(broker.client(), fault_plane)
    wait_converged(fault_plane, [carol], docker_client)
    assert docker_containers(docker_client, created["uuid"]) == []
    assert carol.container(created["uuid"])["state"] == "Terminated"
    assert "superseded by action" in agent_log(fault_plane)


def test_forged_tasks_never_run_whatever_options_they_carry(
    fault_plane: Plane,
    carol: ApiClient,
    broker: RedisServer,
    docker_client: docker.DockerClient,
    raw: Celery,
) -> None:
    """Unsealed, sealed with a made-up key, and sealed by the control plane for another node:
    the agent runs none of them, whatever they ask."""
    idle = carol.create(name="target")
    busy = running(carol, name="busy", run_command=SERVER)
    queue = node_queue(fault_plane.node_uuid)
    forged_start = start_of(
        idle,
        action_uuid=str(uuid_lib.uuid4()),
        net="host",
        pid="host",
        privileged=True,
        cap_add=["SYS_ADMIN"],
    )
    forged_stop = Operation(
        action="stop",
        action_uuid=str(uuid_lib.uuid4()),
        container_uuid=busy["uuid"],
        rollback_state="Running",
        issued_ns=time.time_ns(),
    )
    other_node, _ = fault_plane.enroll(f"other-{uuid_lib.uuid4().hex[:6]}")
    with fault_plane.dispatcher() as dispatcher:
        other_key = dispatcher.keyring.key(other_node)
    assert other_key is not None
    for task, operation in ((TASK_START, forged_start), (TASK_STOP, forged_stop)):
        body = {"operation": operation.to_dict()}
        subject = f"{signing.TO_NODE}:{task}"
        for kwargs in (
            body,
            signing.sealed(b"f" * 32, fault_plane.node_uuid, subject, body),
            signing.sealed(other_key, other_node, subject, body),
        ):
            raw.send_task(task, kwargs=kwargs, queue=queue)

    wait_broker_idle(broker.client(), fault_plane)
    wait_converged(fault_plane, [carol], docker_client)
    assert docker_containers(docker_client, idle["uuid"]) == []
    assert carol.container(idle["uuid"])["state"] == "Init"
    assert carol.container(busy["uuid"])["state"] == "Running"
    log = agent_log(fault_plane)
    for task in (TASK_START, TASK_STOP):
        assert f"refused a {task} task: the message is not sealed" in log
        assert f"refused a {task} task: the seal does not match node {fault_plane.node_uuid}" in log
        assert f"refused a {task} task: node {other_node} has no credential here" in log
    for forged in (forged_start, forged_stop):
        assert forged.action_uuid not in log  # refused before anything read the operation


def test_redis_killed_with_operations_in_flight_loses_nothing_and_the_agent_survives(
    fault_plane: Plane, carol: ApiClient, broker: RedisServer, docker_client: docker.DockerClient
) -> None:
    created = [carol.create(name=f"burst-{n}", run_command=SERVER) for n in range(4)]
    accepted = [action_of(carol.act(c["uuid"], "start")) for c in created]
    broker.kill()
    time.sleep(2)
    broker.start()
    assert fault_plane.services["agent"].alive()
    carol.wait_node_state(fault_plane.node_uuid, "Deployed")
    # The deliveries the lost connections left unacknowledged, an hour later.
    redeliver_unacked(broker.client(), node_queue(fault_plane.node_uuid))
    wait_converged(fault_plane, [carol], docker_client, timeout=90)
    for action in accepted:
        assert carol.action(f"/api/v1/action/{action}/")["state"] in ("Success", "Failed")
    assert fault_plane.services["agent"].alive()
    assert fault_plane.services["reporter"].alive()


def test_reporter_killed_mid_burst_loses_no_report(
    fault_plane: Plane, carol: ApiClient, docker_client: docker.DockerClient
) -> None:
    created = [carol.create(name=f"reported-{n}", run_command=SERVER) for n in range(6)]
    accepted = [action_of(carol.act(c["uuid"], "start")) for c in created]
    kill_and_restart(fault_plane, "reporter")
    wait_converged(fault_plane, [carol], docker_client, timeout=90)
    for container, action in zip(created, accepted, strict=True):
        assert carol.action(f"/api/v1/action/{action}/")["state"] == "Success"
        assert carol.container(container["uuid"])["state"] == "Running"


def test_an_api_killed_between_its_commit_and_the_task_leaves_nothing_stuck(
    fault_plane: Plane, carol: ApiClient, docker_client: docker.DockerClient
) -> None:
    """What an API process killed after committing an accepted stop, before queueing its task,
    leaves behind: the record Stopping, its Action Pending, no task anywhere. Made here with the
    API's own database calls, since no signal lands reliably between two statements."""
    uuid = running(carol, name="undelivered", run_command=SERVER)["uuid"]
    database = Database(fault_plane.env["CONTROLPLANE_DATABASE_URL"])
    try:
        with database.session() as session:
            owner = session.scalar(select(User.id).where(User.username == "alice"))
            assert owner is not None
            _, record, _ = containers.begin_action(
                session,
                owner_id=owner,
                uuid=uuid,
                action=Action.STOP,
                request=RequestInfo(method="POST", path="/", user_agent="", ip="", body=""),
            )
            stop = record.uuid
    finally:
        database.dispose()
    assert carol.container(uuid)["state"] == "Stopping"

    failed = carol.wait_action(f"/api/v1/action/{stop}/", timeout=60)
    assert failed["state"] == "Failed"
    assert failed["reason"].startswith("the stop was never delivered to the node")
    wait_converged(fault_plane, [carol], docker_client)
    assert carol.container(uuid)["state"] == "Running"
