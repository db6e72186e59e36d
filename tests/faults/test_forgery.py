"""Forged, unsealed, replayed, stale and misattributed messages, sent with a plain Celery client
on the broker (what anybody who reaches Redis can send), and a second node's real credential
used to speak for the first node. None may change anything; each is refused and logged, and the
plane stays converged (tests.support.invariants).
"""

from __future__ import annotations

import time
import uuid as uuid_lib
from typing import Any

import docker
import pytest
from celery import Celery

from controlplane.core import signing
from controlplane.core.messages import (
    CLAIM_QUEUE,
    HEARTBEAT_QUEUE,
    REPORTER_QUEUE,
    TASK_CLAIM_ACTION,
    TASK_REPORT_CONTAINER,
    TASK_REPORT_NODE,
    TASK_REPORT_PICTURE,
    ClaimRequest,
    ContainerReport,
    NodePicture,
    NodeReport,
)
from controlplane.core.signing import NodeToken
from tests.support.api import ApiClient
from tests.support.broker import wait_broker_idle
from tests.support.containers import SERVER, action_of, running
from tests.support.invariants import wait_converged
from tests.support.plane import Plane
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

HOUR_NS = 3600 * 10**9


def heartbeat(node_uuid: str) -> dict[str, Any]:
    """A heartbeat's body, as the agent of `node_uuid` would send it."""
    report = NodeReport(
        node_uuid=node_uuid, docker_version="x", cpu=1, memory_mb=1, observed_ns=time.time_ns()
    )
    return {"report": report.to_dict()}


def node_token(plane: Plane) -> NodeToken:
    return NodeToken.parse(plane.env["CONTROLPLANE_AGENT_TOKEN"])


def sealed_as(token: NodeToken, task: str, body: dict[str, Any], **options: Any) -> dict[str, Any]:
    subject = f"{signing.FROM_NODE}:{task}"
    return {
        **body,
        signing.SEAL_FIELD: signing.seal(token.key, token.node_uuid, subject, body, **options),
    }


def stopped_report(container: dict[str, Any], node_uuid: str) -> dict[str, Any]:
    """A report that would make a running container Stopped, stamped an hour ahead so that, if
    it were applied, no true report could move the record back for that hour."""
    return ContainerReport(
        container_uuid=container["uuid"],
        state="Stopped",
        observed_ns=time.time_ns() + HOUR_NS,
        node_uuid=node_uuid,
        exit_code=0,
    ).to_dict()


def reporter_logged(plane: Plane, text: str) -> None:
    log = plane.services["reporter"].log_path
    wait_for(lambda: text in log.read_text(errors="replace"), timeout=30)


def settle(plane: Plane, broker: RedisServer, clients: list[ApiClient], docker_client: Any) -> None:
    wait_broker_idle(broker.client(), plane)
    wait_converged(plane, clients, docker_client)


@pytest.fixture
def target(carol: ApiClient) -> dict[str, Any]:
    return running(carol, name="target", run_command=SERVER)


def test_unsealed_forged_and_stale_reports_change_nothing(
    fault_plane: Plane,
    carol: ApiClient,
    broker: RedisServer,
    docker_client: docker.DockerClient,
    target: dict[str, Any],
    raw: Celery,
) -> None:
    node = fault_plane.node_uuid
    body = {"report": stopped_report(target, node)}
    forger = NodeToken(node_uuid=node, key=b"f" * 32)
    stale = {"now_ns": time.time_ns() - 2 * signing.SEAL_WINDOW_NS}
    messages = {
        "the message is not sealed": body,
        f"does not match node {node}'s key": sealed_as(forger, TASK_REPORT_CONTAINER, body),
        "outside the 300 s window": sealed_as(
            node_token(fault_plane), TASK_REPORT_CONTAINER, body, **stale
        ),
    }
    for kwargs in messages.values():
        raw.send_task(TASK_REPORT_CONTAINER, kwargs=kwargs, queue=REPORTER_QUEUE)
    for reason in messages:
        reporter_logged(fault_plane, reason)
    settle(fault_plane, broker, [carol], docker_client)
    assert carol.container(target["uuid"])["state"] == "Running"


def test_a_replayed_message_is_refused_once_its_first_delivery_was_applied(
    fault_plane: Plane,
    carol: ApiClient,
    broker: RedisServer,
    docker_client: docker.DockerClient,
    target: dict[str, Any],
    raw: Celery,
) -> None:
    """A copy of a real heartbeat (which the agent sealed) is applied once; any copy sent
    again, as a new task, is a replay, whether it comes in the same batch of the heartbeat
    intake or later, or on the task queue older agents send their heartbeats to."""
    kwargs = sealed_as(node_token(fault_plane), TASK_REPORT_NODE, heartbeat(fault_plane.node_uuid))
    refused = f"nonce {kwargs[signing.SEAL_FIELD]['nonce']} of node"
    log = fault_plane.services["reporter"].log_path
    raw.send_task(TASK_REPORT_NODE, kwargs=kwargs, queue=HEARTBEAT_QUEUE)
    raw.send_task(TASK_REPORT_NODE, kwargs=kwargs, queue=HEARTBEAT_QUEUE)
    reporter_logged(fault_plane, refused)
    raw.send_task(TASK_REPORT_NODE, kwargs=kwargs, queue=REPORTER_QUEUE)
    # Waited for, not read once the broker looks idle: between the worker's BRPOP and its
    # note of the delivery as unacknowledged, the queue and the unacked table are both empty.
    wait_for(lambda: log.read_text(errors="replace").count(refused) >= 2, timeout=30)
    settle(fault_plane, broker, [carol], docker_client)
    assert log.read_text(errors="replace").count(refused) == 2


def test_a_second_nodes_credential_cannot_speak_for_the_first_node(
    fault_plane: Plane,
    carol: ApiClient,
    broker: RedisServer,
    docker_client: docker.DockerClient,
    target: dict[str, Any],
    raw: Celery,
) -> None:
    """A real, enrolled node (its agent never runs) seals with its own key: reports naming the
    first node, a report about the first node's container in its own name, a relist claiming
    the container, a heartbeat and a claim in the first node's name. None is applied; the
    container's record and Docker container stay as they were."""
    rogue_uuid, rogue_text = fault_plane.enroll(f"rogue-{uuid_lib.uuid4().hex[:6]}")
    rogue = NodeToken.parse(rogue_text)
    victim = fault_plane.node_uuid
    idle = carol.create(name="idle")
    start = action_of(carol.act(idle["uuid"], "start"))
    sends = [
        (TASK_REPORT_CONTAINER, {"report": stopped_report(target, victim)}, REPORTER_QUEUE),
        (TASK_REPORT_CONTAINER, {"report": stopped_report(target, rogue_uuid)}, REPORTER_QUEUE),
        (
            TASK_REPORT_PICTURE,
            {
                "picture": NodePicture(
                    node_uuid=rogue_uuid,
                    observed_ns=time.time_ns(),
                    containers=[stopped_report(target, rogue_uuid)],
                ).to_dict()
            },
            REPORTER_QUEUE,
        ),
        (TASK_REPORT_NODE, heartbeat(victim), HEARTBEAT_QUEUE),
        (TASK_REPORT_NODE, heartbeat(victim), REPORTER_QUEUE),  # as older agents send them
        (
            TASK_CLAIM_ACTION,
            {
                "claim": ClaimRequest(
                    action_uuid=start, container_uuid=idle["uuid"], node_uuid=victim
                ).to_dict()
            },
            CLAIM_QUEUE,
        ),
    ]
    for task, body, queue in sends:
        raw.send_task(task, kwargs=sealed_as(rogue, task, body), queue=queue)
    reporter_logged(fault_plane, f"from node {rogue_uuid}: it speaks for node {victim}")
    settle(fault_plane, broker, [carol], docker_client)
    assert carol.container(target["uuid"])["state"] == "Running"
    log = fault_plane.services["reporter"].log_path.read_text(errors="replace")
    assert log.count(f"from node {rogue_uuid}: it speaks for node {victim}") >= 4
    assert f"action {start} claimed by node {rogue_uuid}" not in log


def test_a_revoked_node_is_heard_no_more(
    fault_plane: Plane,
    carol: ApiClient,
    broker: RedisServer,
    docker_client: docker.DockerClient,
    raw: Celery,
) -> None:
    name = f"revoked-{uuid_lib.uuid4().hex[:6]}"
    node_uuid, text = fault_plane.enroll(name)
    token = NodeToken.parse(text)
    beat = heartbeat(node_uuid)
    raw.send_task(
        TASK_REPORT_NODE, kwargs=sealed_as(token, TASK_REPORT_NODE, beat), queue=HEARTBEAT_QUEUE
    )
    carol.wait_node_state(node_uuid, "Deployed")
    fault_plane.command("node", "revoke", name)
    assert carol.node_state(node_uuid) == "Unreachable"
    time.sleep(1.5)  # the reporter's keyring holds a key for a second
    raw.send_task(
        TASK_REPORT_NODE, kwargs=sealed_as(token, TASK_REPORT_NODE, beat), queue=HEARTBEAT_QUEUE
    )
    reporter_logged(fault_plane, f"node {node_uuid} has no credential here")
    settle(fault_plane, broker, [carol], docker_client)
    assert carol.node_state(node_uuid) == "Unreachable"
