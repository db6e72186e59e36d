"""Session fixtures for every suite that runs against a live control plane.

tests/integration (HTTP with requests) and tests/conformance (the real client SDKs) share one
`plane`: one API, reporter and node agent per session, on one Redis database. Defining the
fixtures in each folder's conftest would make pytest start two planes, whose reporters would then
consume each other's reports from the shared queue. The machinery itself (`Plane`, `ApiClient`,
`wait_for`) is in tests/integration/conftest.py.

The session runs a short node lease (8 s grace, 2 s heartbeats) so that tests/integration/
test_nodes.py sees a silent node go Unreachable quickly; its `extra_nodes` (two more dockerd
daemons with their own agents, see tests/integration/daemons.py) are module-scoped, and left
Unreachable, so no later test places a container on them.

Every container the session's node made is removed after each test that used the plane (by the
node label), even when the test fails. Tests that do not ask for the plane (tests/unit) start
nothing and touch no service.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest
import redis
import requests

from controlplane.core.messages import LABEL_NODE_UUID
from tests.integration.conftest import (
    BIN,
    DOCKER_URL,
    IMAGE,
    REDIS_URL,
    ROOT,
    ApiClient,
    Plane,
    Service,
    free_port,
    tolerating_socket_leaks,
    wait_for,
)
from tests.integration.daemons import ExtraDockerDaemon, ExtraNode


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=DOCKER_URL)
    client.ping()
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client: docker.DockerClient) -> str:
    subprocess.run(
        ["bash", str(ROOT / "scripts/bootstrap.sh"), "image"],
        check=True,
        env={**os.environ, "CP_IMAGE": IMAGE},
    )
    docker_client.images.get(IMAGE)
    return IMAGE


@pytest.fixture(scope="session")
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _remove_node_containers(client: docker.DockerClient, node_uuid: str) -> None:
    """Remove the node's containers; one the agent is removing at the same moment (a test that
    ended with a terminate) is already on its way out."""
    for container in client.containers.list(
        all=True, filters={"label": f"{LABEL_NODE_UUID}={node_uuid}"}
    ):
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise


@pytest.fixture(scope="session")
def plane(
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
    image: str,
    redis_db: redis.Redis,
) -> Iterator[Plane]:
    state = tmp_path_factory.mktemp("plane")
    node_uuid = str(uuid.uuid4())
    env = {
        **os.environ,
        "CONTROLPLANE_DATABASE_URL": f"sqlite:///{state}/controlplane.db",
        "CONTROLPLANE_BROKER_URL": REDIS_URL,
        "CONTROLPLANE_NODE_TIMEOUT": "10",
        "CONTROLPLANE_STOP_TIMEOUT": "5",
        "CONTROLPLANE_PAGE_SIZE": "25",
        "CONTROLPLANE_AGENT_BROKER_URL": REDIS_URL,
        "CONTROLPLANE_AGENT_NODE_UUID": node_uuid,
        "CONTROLPLANE_AGENT_NODE_NAME": "test-node-1",
        "CONTROLPLANE_AGENT_DOCKER_URL": DOCKER_URL,
        "CONTROLPLANE_AGENT_STATE_DIR": str(state / "agent"),
        # The session's API accepts every option so each can be checked on Docker; the default
        # (refusing the dangerous ones) is checked against a second API (test_container_options).
        "CONTROLPLANE_ALLOW_DANGEROUS": "all",
        "CONTROLPLANE_AGENT_PUBLISH_IP": "127.0.0.1",
        # A quick relist and a short deadline for stuck operations, so the tests of the repairs
        # (tests/integration/test_out_of_band.py) do not wait out the production defaults.
        "CONTROLPLANE_AGENT_RELIST_INTERVAL": "2",
        "CONTROLPLANE_STUCK_TIMEOUT": "20",
        # A short lease, so tests/integration/test_nodes.py sees a silent node go Unreachable
        # quickly; agents beat more often than by default so a busy machine never loses one.
        "CONTROLPLANE_NODE_GRACE": "8",
        "CONTROLPLANE_AGENT_HEARTBEAT_INTERVAL": "2",
    }
    controlplane = str(BIN / "controlplane")
    subprocess.run([controlplane, "db", "upgrade"], env=env, check=True, capture_output=True)
    keys = {}
    for username in ("alice", "bob"):
        created = subprocess.run(
            [controlplane, "user", "create", username],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        keys[username] = created.stdout.strip()
    port = free_port()
    services = {
        "reporter": Service("reporter", ["reporter"], env, state),
        "agent": Service("agent", ["agent"], env, state),
        "api": Service("api", ["api", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env, state),
    }
    running = Plane(f"http://127.0.0.1:{port}", node_uuid, services, env, keys, state)
    try:
        admin = running.client("alice")

        def node_deployed() -> bool:
            try:
                nodes = admin.request("GET", "/api/v1/node/").json()["objects"]
            except (requests.ConnectionError, ValueError):
                return False
            return any(n["uuid"] == node_uuid and n["state"] == "Deployed" for n in nodes)

        wait_for(node_deployed, timeout=60, interval=0.2)
        yield running
    finally:
        for service in services.values():
            service.stop()
        _remove_node_containers(docker_client, node_uuid)


# The extra nodes: their names are also their bridges' (see tests/integration/daemons.py).
EXTRA_NODE_TAGS = {"cpnode1": "ssd,zone-a", "cpnode2": "zone-b"}


@pytest.fixture(scope="module")
def extra_nodes(plane: Plane, docker_client: docker.DockerClient) -> Iterator[list[ExtraNode]]:
    """Two more real nodes, each a dockerd of its own with its own agent, tagged as in
    EXTRA_NODE_TAGS, registered with the session's plane. Everything is removed afterwards, pass
    or fail, and the nodes are left Unreachable, so later tests never place containers on them."""
    started: list[ExtraNode] = []
    daemons = [
        ExtraDockerDaemon(name, index, plane.state_dir)
        for index, name in enumerate(EXTRA_NODE_TAGS, start=1)
    ]
    admin = plane.client("alice")
    try:
        for daemon in daemons:
            client = daemon.start()
            daemon.load_image(docker_client, client)
            node_uuid = str(uuid.uuid4())
            env = {
                **plane.env,
                "CONTROLPLANE_AGENT_DOCKER_URL": daemon.url,
                "CONTROLPLANE_AGENT_NODE_UUID": node_uuid,
                "CONTROLPLANE_AGENT_NODE_NAME": daemon.name,
                "CONTROLPLANE_AGENT_STATE_DIR": str(plane.state_dir / daemon.name),
                "CONTROLPLANE_AGENT_TAGS": EXTRA_NODE_TAGS[daemon.name],
            }
            agent = Service(f"agent-{daemon.name}", ["agent"], env, plane.state_dir)
            plane.services[agent.name] = agent
            started.append(ExtraNode(daemon, client, agent, node_uuid))
        for node in started:
            admin.wait_node_state(node.uuid, "Deployed")
        yield started
    finally:
        for node in started:
            node.agent.stop()
            del plane.services[node.agent.name]
            node.remove_containers()
            node.docker.close()
        for daemon in daemons:
            daemon.stop()
        for node in started:
            if admin.node_state(node.uuid) is not None:
                admin.wait_node_state(node.uuid, "Unreachable")


@pytest.fixture
def alice(plane: Plane) -> ApiClient:
    return plane.client("alice")


@pytest.fixture
def bob(plane: Plane) -> ApiClient:
    return plane.client("bob")


@pytest.fixture(autouse=True)
def _cleanup_containers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Remove every Docker container the test's node made, pass or fail (only for tests that
    use the plane, so unit tests never reach Docker)."""
    yield
    if "plane" in request.fixturenames:
        plane: Plane = request.getfixturevalue("plane")
        client: docker.DockerClient = request.getfixturevalue("docker_client")
        _remove_node_containers(client, plane.node_uuid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of each service log to a failed test, where the cause usually is."""
    report = yield
    if report.failed and "plane" in getattr(item, "fixturenames", ()):
        plane = item.funcargs.get("plane") if hasattr(item, "funcargs") else None
        if plane is not None:
            for name, service in plane.services.items():
                report.sections.append((f"{name} log (tail)", service.tail()))
    return report


@pytest.fixture
def tolerate_socket_leaks() -> Iterator[None]:
    """For modules that open websockets with websocket-client 0.59 (see
    `tolerating_socket_leaks`); use with `pytest.mark.usefixtures`."""
    with tolerating_socket_leaks():
        yield
