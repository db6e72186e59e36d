"""The fault suite's own plane: a reporter, an agent and an API like the session's, but on a
Redis server of its own (tests.support.redis_server), since its tests kill the broker, and
with a short stuck-operation timeout so killed operations settle within seconds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import docker

    from tests.support.api import ApiClient
    from tests.support.plane import Plane
    from tests.support.redis_server import RedisServer

# Faster settling than the session plane's: a killed operation is settled 8 s after it began.
SETTINGS = {"CONTROLPLANE_STUCK_TIMEOUT": "8"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fault_plane(
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
    image: str,
    broker: RedisServer,
) -> Iterator[Plane]:
    from tests.support.plane import start_plane

    state = tmp_path_factory.mktemp("fault-plane")
    with start_plane(state, docker_client, redis_url=broker.url, settings=SETTINGS) as running:
        yield running


@pytest.fixture
def carol(fault_plane: Plane) -> ApiClient:
    """The fault plane's first user."""
    return fault_plane.client("alice")
