"""Changes made outside the control plane reach the API: through the agent's Docker events
watcher at once, or through its periodic relist when an event was lost, and operations whose
agent was killed mid-way are settled instead of staying transitional.

Every change here is made by hand on the real Docker Engine with the test's own client.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import docker
import pytest
import redis

from controlplane.core.messages import LABEL_CONTAINER_UUID, node_queue
from controlplane.reporter.reconcile import VANISHED_REASON
from tests.support.api import ApiClient
from tests.support.broker import redeliver_unacked, wait_broker_idle
from tests.support.containers import SERVER, STUBBORN, docker_containers, running
from tests.support.plane import Plane
from tests.support.processes import Service
from tests.support.waiting import wait_for
from workers.watcher import REMOVED_REASON

pytestmark = pytest.mark.integration


def only_container(client: docker.DockerClient, uuid: str) -> docker.models.containers.Container:
    found = docker_containers(client, uuid)
    assert len(found) == 1, found
    return found[0]


def test_a_process_that_exits_by_itself_is_stopped_with_its_exit_code(
    alice: ApiClient,
) -> None:
    created = alice.create(name="exits", run_command="sh -c 'sleep 1; exit 3'")
    assert alice.act(created["uuid"], "start").status_code == 202
    stopped = alice.wait_state(created["uuid"], "Stopped")
    assert stopped["exit_code"] == 3
    assert stopped["exit_code_msg"] == "Exit code 3 (Failure)"


def test_docker_stop_kill_and_start_by_hand_show_in_the_api(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    uuid = running(alice, name="byhand", run_command=SERVER)["uuid"]
    container = only_container(docker_client, uuid)
    container.stop(timeout=1)
    assert alice.wait_state(uuid, "Stopped")["exit_code"] is not None
    container.start()
    started = alice.wait_state(uuid, "Running")
    assert started["exit_code"] is None
    container.kill()
    killed = alice.wait_state(uuid, "Stopped")
    assert killed["exit_code"] == 137
    assert killed["exit_code_msg"] == "Exit code 137 (Failure): killed by signal 9"


def test_docker_pause_by_hand_shows_as_paused_and_a_paused_container_still_stops(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    uuid = running(alice, name="frozen", run_command=SERVER)["uuid"]
    container = only_container(docker_client, uuid)
    container.pause()
    wait_for(lambda: alice.container(uuid)["paused"] is True)
    assert alice.container(uuid)["state"] == "Running"
    container.unpause()
    wait_for(lambda: alice.container(uuid)["paused"] is False)
    container.pause()
    wait_for(lambda: alice.container(uuid)["paused"] is True)
    assert alice.act(uuid, "stop").status_code == 202
    stopped = alice.wait_state(uuid, "Stopped")
    assert stopped["paused"] is False
    assert only_container(docker_client, uuid).status == "exited"


def test_docker_rm_by_hand_terminates_the_record(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    """Whichever sees it first says why: the agent's watcher (Docker's destroy event) or its
    relist (every 2 s here), which may run between the kill and the destroy's report."""
    uuid = running(alice, name="removed", run_command=SERVER)["uuid"]
    only_container(docker_client, uuid).remove(force=True)
    gone = alice.wait_state(uuid, "Terminated")
    assert gone["destroyed_datetime"] is not None
    assert REMOVED_REASON in gone["exit_code_msg"] or VANISHED_REASON in gone["exit_code_msg"]


def test_an_oom_kill_is_stopped_with_the_reason(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    if not docker_client.info().get("MemoryLimit"):
        pytest.skip("this Docker Engine cannot limit memory (no memory cgroup)")
    created = alice.create(
        name="hungry",
        memory=8,
        memory_swap=8,
        run_command="sh -c 'sleep 1; head -c 67108864 /dev/zero | tail > /dev/null'",
    )
    assert alice.act(created["uuid"], "start").status_code == 202
    stopped = alice.wait_state(created["uuid"], "Stopped")
    assert stopped["exit_code"] != 0
    assert "killed: out of memory" in stopped["exit_code_msg"]


@pytest.mark.parametrize(("policy", "code"), [("ON_SUCCESS", 0), ("ALWAYS", 1)])
def test_autodestroy_removes_an_exited_container(
    alice: ApiClient, docker_client: docker.DockerClient, policy: str, code: int
) -> None:
    created = alice.create(
        name="oneshot", autodestroy=policy, run_command=f"sh -c 'sleep 1; exit {code}'"
    )
    assert alice.act(created["uuid"], "start").status_code == 202
    gone = alice.wait_state(created["uuid"], "Terminated")
    assert f"autodestroy ({policy})" in gone["exit_code_msg"]
    assert docker_containers(docker_client, created["uuid"]) == []


def test_autodestroy_on_success_keeps_a_container_that_failed(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    created = alice.create(
        name="failing", autodestroy="ON_SUCCESS", run_command="sh -c 'sleep 1; exit 1'"
    )
    assert alice.act(created["uuid"], "start").status_code == 202
    assert alice.wait_state(created["uuid"], "Stopped")["exit_code"] == 1
    assert len(docker_containers(docker_client, created["uuid"])) == 1


def test_autodestroy_leaves_a_container_stopped_through_the_api(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    uuid = running(alice, name="kept", autodestroy="ALWAYS", run_command=SERVER)["uuid"]
    assert alice.act(uuid, "stop").status_code == 202
    alice.wait_state(uuid, "Stopped")
    assert len(docker_containers(docker_client, uuid)) == 1


def test_autorestart_on_failure_shows_running_again(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    first = running(
        alice, name="flaky", autorestart="ON_FAILURE", run_command="sh -c 'sleep 2; exit 1'"
    )
    uuid = first["uuid"]
    wait_for(lambda: only_container(docker_client, uuid).attrs["RestartCount"] >= 1)
    again = wait_for(
        lambda: (
            (body := alice.container(uuid))["state"] == "Running"
            and body["started_datetime"] != first["started_datetime"]
            and body
        )
    )
    assert again["exit_code"] is None


@pytest.fixture
def agent_without_events(plane: Plane) -> Iterator[Service]:
    """The node's agent replaced by one that does not follow Docker events, so only its relist
    can see changes; the session's agent is put back afterwards."""
    agent = plane.services["agent"]
    agent.stop(keep_log=True)
    blind = Service(
        "agent-blind",
        ["agent"],
        {**plane.env, "CONTROLPLANE_AGENT_WATCH_EVENTS": "0"},
        plane.state_dir,
    )
    try:
        yield blind
    finally:
        blind.stop()
        agent.restart()


def test_the_relist_repairs_changes_whose_events_were_missed(
    alice: ApiClient, docker_client: docker.DockerClient, agent_without_events: Service
) -> None:
    uuid = running(alice, name="unwatched", run_command=SERVER)["uuid"]
    container = only_container(docker_client, uuid)
    container.kill()
    assert alice.wait_state(uuid, "Stopped")["exit_code"] == 137
    container.remove()
    gone = alice.wait_state(uuid, "Terminated")
    assert "gone from the node" in gone["exit_code_msg"]


def test_an_agent_killed_mid_stop_leaves_nothing_stuck_or_duplicated(
    plane: Plane, alice: ApiClient, docker_client: docker.DockerClient, redis_db: redis.Redis
) -> None:
    uuid = running(alice, name="stubborn", run_command=STUBBORN)["uuid"]
    response = alice.act(uuid, "stop")
    assert response.status_code == 202
    alice.wait_state(uuid, "Stopping")
    wait_for(lambda: alice.action(response.headers["X-Tutum-Action-URI"])["state"] == "In progress")
    agent = plane.services["agent"]
    agent.process.send_signal(signal.SIGKILL)
    agent.process.wait()
    agent.restart()
    settled = wait_for(
        lambda: (body := alice.container(uuid))["state"] in ("Running", "Stopped") and body,
        timeout=60,
    )
    container = only_container(docker_client, uuid)
    assert settled["state"] == ("Running" if container.status == "running" else "Stopped")
    action = alice.wait_action(response.headers["X-Tutum-Action-URI"], timeout=60)
    assert action["state"] == ("Success" if settled["state"] == "Stopped" else "Failed")
    # An hour later Redis delivers the killed stop again. Its Action was closed when the stuck
    # operation was settled, so its claim is refused and it changes nothing.
    assert redeliver_unacked(redis_db, node_queue(plane.node_uuid)) == 1
    wait_broker_idle(redis_db, plane)
    assert alice.container(uuid)["state"] == settled["state"]
    assert only_container(docker_client, uuid).status == container.status
    refused = f"the claim of action {action['uuid']} was refused"
    wait_for(lambda: refused in plane.services["agent"].log_path.read_text(errors="replace"))
    assert alice.act(uuid, "terminate").status_code == 202
    alice.wait_state(uuid, "Terminated")
    assert (
        docker_client.containers.list(all=True, filters={"label": f"{LABEL_CONTAINER_UUID}={uuid}"})
        == []
    )
