"""Session fixtures for every suite that runs against a live control plane.

tests/integration (HTTP with requests) and tests/conformance (the real client SDKs) share one
`plane`: one API, reporter and node agent per session, on one Redis database. Defining the
fixtures in each folder's conftest would make pytest start two planes, whose reporters would then
consume each other's reports from the shared queue (`tests.support.plane.start_plane` refuses a
second one). The machinery itself (`Plane`, `ApiClient`, `wait_for`, ...) is in tests/support.

Every fixture imports what it needs from tests/support inside its body, so this module imports
nothing but pytest: a unit run (tests/unit), which loads it too, imports neither the harness nor
docker, redis, requests or websocket (tests/unit/test_suite_layout.py checks this, and that the
live suites resolve `plane` to this module's fixture).

The session runs a short node lease (8 s grace, 2 s heartbeats) so that tests/integration/
test_nodes.py sees a silent node go Unreachable quickly; its `extra_nodes` (two more dockerd
daemons with their own agents, see tests/support/daemons.py) are module-scoped, and left
Unreachable, so no later test places a container on them.

Every container the session's node made is removed after each test that used the plane (by the
node label), even when the test fails. Tests that do not ask for the plane (tests/unit) start
nothing and touch no service.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import docker
    import redis

    from tests.support.api import ApiClient
    from tests.support.daemons import ExtraNode
    from tests.support.plane import Plane


def pytest_report_header() -> str:
    """Which database the live planes keep their records in (`tests.support.plane`)."""
    backend = os.environ.get("CONTROLPLANE_TEST_PLANE_DATABASE", "sqlite")
    return f"live planes' database: {backend}"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    from docker import DockerClient

    from tests.support.locations import DOCKER_URL

    client = DockerClient(base_url=DOCKER_URL)
    client.ping()
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client: docker.DockerClient) -> str:
    from tests.support.locations import IMAGE, ROOT

    subprocess.run(
        ["bash", str(ROOT / "scripts/bootstrap.sh"), "image"],
        check=True,
        env={**os.environ, "CP_IMAGE": IMAGE},
    )
    docker_client.images.get(IMAGE)
    return IMAGE


@pytest.fixture(scope="session")
def redis_db() -> Iterator[redis.Redis]:
    from redis import Redis

    from tests.support.locations import REDIS_URL

    client = Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def plane(
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
    image: str,
    redis_db: redis.Redis,
) -> Iterator[Plane]:
    from tests.support.plane import start_plane

    with start_plane(tmp_path_factory.mktemp("plane"), docker_client) as running:
        _SESSION_PLANE.append(running)
        try:
            yield running
        finally:
            _SESSION_PLANE.remove(running)


@pytest.fixture(scope="module")
def extra_nodes(plane: Plane, docker_client: docker.DockerClient) -> Iterator[list[ExtraNode]]:
    """Two more real nodes, each a dockerd of its own with its own agent, tagged as in
    `tests.support.daemons.EXTRA_NODE_TAGS`, registered with the session's plane; removed
    afterwards and left Unreachable (see `tests.support.daemons.start_extra_nodes`)."""
    from tests.support.daemons import start_extra_nodes

    with start_extra_nodes(plane, docker_client) as started:
        yield started


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
        from tests.support.containers import remove_node_containers

        plane: Plane = request.getfixturevalue("plane")
        client: docker.DockerClient = request.getfixturevalue("docker_client")
        remove_node_containers(client, plane.node_uuid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of each service log to a failed test, where the cause usually is: of
    the session's plane while it runs, whether the test asked for it by name or through a
    fixture that looks it up (the conformance suite's `sdk`)."""
    report = yield
    if report.failed and _SESSION_PLANE:
        for name, service in _SESSION_PLANE[0].services.items():
            report.sections.append((f"{name} log (tail)", service.tail()))
    return report


# The session's plane while it runs (at most one: tests/unit/test_suite_layout.py).
_SESSION_PLANE: list[Plane] = []


@pytest.fixture
def tolerate_socket_leaks() -> Iterator[None]:
    """For modules that open websockets with websocket-client 0.59 (see
    `tests.support.streams.tolerating_socket_leaks`); use with `pytest.mark.usefixtures`."""
    from tests.support.streams import tolerating_socket_leaks

    with tolerating_socket_leaks():
        yield
