"""The fault suite's own plane: a reporter, an agent and an API like the session's (with its
short relist, stuck-operation timeout and orphan grace), but on a Redis server of its own
(tests.support.redis_server), since its tests kill the broker.

With CONTROLPLANE_FAULT_MATRIX naming a file, each test's outcome, duration and convergence
waits are appended to it as a JSON line, for benchmarks/fault_matrix.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.invariants import CONVERGENCE

if TYPE_CHECKING:
    import docker

    from tests.support.api import ApiClient
    from tests.support.plane import Plane
    from tests.support.redis_server import RedisServer


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
    with start_plane(state, docker_client, redis_url=broker.url) as running:
        yield running


@pytest.fixture
def carol(fault_plane: Plane) -> ApiClient:
    """The fault plane's first user."""
    return fault_plane.client("alice")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call":
        return
    waits = list(CONVERGENCE)
    CONVERGENCE.clear()
    path = os.environ.get("CONTROLPLANE_FAULT_MATRIX")
    if not path:
        return
    row = {
        "scenario": item.name,
        "outcome": report.outcome,
        "seconds": round(report.duration, 2),
        "converge_seconds": round(sum(w.seconds for w in waits), 2),
        "violations": len(waits[-1].violations) if waits else None,
    }
    with open(path, "a") as matrix:
        matrix.write(json.dumps(row) + "\n")
