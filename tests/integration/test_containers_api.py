"""The container lifecycle end to end: HTTP -> API -> Redis -> agent -> real Docker -> reporter."""

from __future__ import annotations

import docker
import pytest

from controlplane.core.messages import LABEL_NODE_UUID
from tests.support.api import ApiClient
from tests.support.containers import SERVER, docker_containers
from tests.support.plane import Plane
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_full_lifecycle_drives_a_real_container(
    alice: ApiClient, plane: Plane, docker_client: docker.DockerClient
) -> None:
    created = alice.create(name="web", run_command=SERVER)
    uuid = created["uuid"]
    assert created["state"] == "Init"
    assert docker_containers(docker_client, uuid) == []

    started = alice.act(uuid, "start")
    assert started.status_code == 202
    assert started.json()["state"] == "Starting"
    start_action = started.headers["X-Tutum-Action-URI"]
    assert start_action.startswith("/api/v1/action/")

    running = alice.wait_state(uuid, "Running")
    assert running["started_datetime"].endswith("+0000")
    assert alice.wait_action(start_action)["state"] == "Success"
    [container] = docker_containers(docker_client, uuid)
    assert container.name == running["unique_name"]
    assert container.status == "running"
    assert container.labels[LABEL_NODE_UUID] == plane.node_uuid

    wait_for(lambda: "err-line" in alice.logs(uuid))
    logs = alice.logs(uuid)
    assert "out-line\n" in logs and "err-line\n" in logs
    assert alice.logs(uuid, tail=1).count("\n") == 1

    stopping = alice.act(uuid, "stop")
    assert stopping.status_code == 202 and stopping.json()["state"] == "Stopping"
    stopped = alice.wait_state(uuid, "Stopped")
    assert stopped["exit_code"] is not None
    assert stopped["exit_code_msg"].startswith(f"Exit code {stopped['exit_code']}")
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == stopped["exit_code"]

    assert alice.act(uuid, "start").status_code == 202
    alice.wait_state(uuid, "Running")
    container.reload()
    assert container.status == "running"
    assert len(docker_containers(docker_client, uuid)) == 1

    terminating = alice.act(uuid, "terminate")
    assert terminating.status_code == 202 and terminating.json()["state"] == "Terminating"
    terminated = alice.wait_state(uuid, "Terminated")
    assert terminated["destroyed_datetime"] is not None
    assert docker_containers(docker_client, uuid) == []
    listed = alice.request("GET", "/api/v1/container/", params={"uuid": uuid}).json()
    assert [c["state"] for c in listed["objects"]] == ["Terminated"]

    actions = alice.request("GET", "/api/v1/action/", params={"object": created["resource_uri"]})
    names = [(a["action"], a["state"]) for a in actions.json()["objects"]]
    assert names == [  # newest first
        ("Container Terminate", "Success"),
        ("Container Start", "Success"),
        ("Container Stop", "Success"),
        ("Container Start", "Success"),
        ("Container Create", "Success"),
    ]


def test_create_options_reach_the_docker_container(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    created = alice.create(
        name="opts",
        run_command="-c 'echo $GREETING; exec sleep 3600'",
        entrypoint="/bin/sh",
        working_dir="/tmp",
        container_envvars=[{"key": "GREETING", "value": "hi there"}],
        labels={"team": "blue"},
        memory=64,
        cpu_shares=512,
        autorestart="ON_FAILURE",
    )
    alice.act(created["uuid"], "start")
    alice.wait_state(created["uuid"], "Running")
    [container] = docker_containers(docker_client, created["uuid"])
    config, host = container.attrs["Config"], container.attrs["HostConfig"]
    assert config["Entrypoint"] == ["/bin/sh"]
    assert config["Cmd"] == ["-c", "echo $GREETING; exec sleep 3600"]
    assert config["WorkingDir"] == "/tmp"
    assert "GREETING=hi there" in config["Env"]
    assert config["Labels"]["team"] == "blue"
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["CpuShares"] == 512
    assert host["RestartPolicy"]["Name"] == "on-failure"
    assert host["Init"] is True
    wait_for(lambda: "hi there" in container.logs().decode())


def test_refused_transition_is_409_and_changes_nothing(alice: ApiClient) -> None:
    created = alice.create(name="idle", run_command=SERVER)
    uuid = created["uuid"]
    refused = alice.act(uuid, "stop")
    assert refused.status_code == 409
    assert "Init" in refused.json()["error"]
    assert alice.container(uuid)["state"] == "Init"

    alice.act(uuid, "start")
    alice.wait_state(uuid, "Running")
    again = alice.act(uuid, "start")
    assert again.status_code == 409
    assert alice.container(uuid)["state"] == "Running"
    actions = alice.request("GET", "/api/v1/action/", params={"object": uuid}).json()
    assert [a["action"] for a in actions["objects"]] == ["Container Start", "Container Create"]


def test_missing_image_fails_the_action_and_returns_to_init(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    created = alice.create(image_name="controlplane/no-such-image:1", name="ghost")
    started = alice.act(created["uuid"], "start")
    assert started.status_code == 202
    action = alice.wait_action(started.headers["X-Tutum-Action-URI"])
    assert action["state"] == "Failed"
    assert "no-such-image" in action["reason"]
    assert alice.wait_state(created["uuid"], "Init")["exit_code"] is None
    assert docker_containers(docker_client, created["uuid"]) == []


def test_a_command_that_does_not_exist_exits_127_without_failing_the_start(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    """docker-init starts, then fails to exec the command: Docker reports an exit, not an error.

    The agent observes the container once, right after starting it, so the API shows Running or
    (if the exit came first) Stopped with 127; a later exit reaches the API only through the
    Docker events watcher.
    """
    created = alice.create(name="badcmd", run_command="/no/such/binary")
    started = alice.act(created["uuid"], "start")
    assert alice.wait_action(started.headers["X-Tutum-Action-URI"])["state"] == "Success"
    [container] = docker_containers(docker_client, created["uuid"])
    wait_for(lambda: container.reload() or container.status == "exited")
    assert container.attrs["State"]["ExitCode"] == 127
    body = alice.container(created["uuid"])
    assert body["state"] in ("Running", "Stopped")
    if body["state"] == "Stopped":
        assert body["exit_code"] == 127


def test_a_process_that_exits_at_once_is_reported_stopped_with_its_exit_code(
    alice: ApiClient,
) -> None:
    created = alice.create(name="oneshot", run_command="sh -c 'exit 3'")
    started = alice.act(created["uuid"], "start")
    assert alice.wait_action(started.headers["X-Tutum-Action-URI"])["state"] == "Success"
    body = alice.container(created["uuid"])
    # Depending on timing the agent sees it running or already exited; either way the API must
    # not claim it failed, and an exited container carries its exit code.
    assert body["state"] in ("Running", "Stopped")
    if body["state"] == "Stopped":
        assert body["exit_code"] == 3


def test_tenants_never_see_each_others_containers(alice: ApiClient, bob: ApiClient) -> None:
    mine = alice.create(name="private")
    uuid = mine["uuid"]
    for method, path in [
        ("GET", f"/api/v1/container/{uuid}/"),
        ("POST", f"/api/v1/container/{uuid}/start/"),
        ("POST", f"/api/v1/container/{uuid}/stop/"),
        ("DELETE", f"/api/v1/container/{uuid}/"),
        ("GET", f"/api/v1/container/{uuid}/logs/"),
    ]:
        assert bob.request(method, path).status_code == 404, (method, path)
    bobs_list = bob.request("GET", "/api/v1/container/", params={"limit": 1000}).json()
    assert uuid not in {c["uuid"] for c in bobs_list["objects"]}
    bobs_actions = bob.request("GET", "/api/v1/action/", params={"limit": 1000}).json()
    assert all(a["object"] != mine["resource_uri"] for a in bobs_actions["objects"])
    assert alice.container(uuid)["state"] == "Init"


def test_paging_walks_every_container_once_in_creation_order(bob: ApiClient) -> None:
    made = [bob.create(name=f"page{i}")["uuid"] for i in range(30)]
    seen: list[str] = []
    path = "/api/v1/container/?name__ignored=1&limit=7"
    pages = 0
    while path:
        body = bob.request("GET", path).json()
        seen += [c["uuid"] for c in body["objects"]]
        assert body["meta"]["limit"] == 7
        path = body["meta"]["next"]
        pages += 1
    assert [u for u in seen if u in set(made)] == made
    assert len(seen) == len(set(seen))
    assert pages >= 5


def test_list_filters_select_exactly_the_matching_containers(alice: ApiClient) -> None:
    a = alice.create(name="filter-a")
    b = alice.create(name="filter-b")

    def uuids(**params: str) -> list[str]:
        body = alice.request("GET", "/api/v1/container/", params={**params, "limit": 1000}).json()
        return [c["uuid"] for c in body["objects"]]

    assert uuids(name="filter-a") == [a["uuid"]]
    assert uuids(unique_name=b["unique_name"]) == [b["uuid"]]
    assert uuids(uuid=b["uuid"]) == [b["uuid"]]
    assert uuids(uuid__startswith=a["uuid"][:13]) == [a["uuid"]]
    assert a["uuid"] in uuids(state="Init")
    assert a["uuid"] not in uuids(state="Running")
    assert a["uuid"] in uuids(node=a["node"])
