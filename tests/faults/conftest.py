"""The fault suite's own plane: a reporter, an agent and an API like the session's (with its
short relist, stuck-operation timeout and orphan grace), but on a Redis server of its own
(tests.support.redis_server), since its tests kill the broker. The plane is module-scoped, so
each test module has a fresh one.

Its node runs on the machine's own dockerd, which no test may kill; the tests that kill a
dockerd ask for `fault_node`, a second node on a dockerd of its own. test_partitions.py puts
nodes on hosts of their own (network namespaces) and overrides `broker` with one that listens
on their links too.

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
    from celery import Celery

    from tests.support.api import ApiClient
    from tests.support.daemons import ExtraNode
    from tests.support.plane import Plane
    from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def raw(broker: RedisServer) -> Iterator[Celery]:
    """A plain Celery client on the fault plane's broker (`tests.support.broker.raw_client`),
    closed after the test: its pooled broker connections would otherwise be left to the
    garbage collector, whose ResourceWarning then fails whichever test it runs in."""
    from tests.support.broker import raw_client

    client = raw_client(broker.url)
    yield client
    client.close()


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


@pytest.fixture(scope="module")
def fault_node(fault_plane: Plane, docker_client: docker.DockerClient) -> Iterator[ExtraNode]:
    """A second node of the fault plane, on an extra dockerd of its own (`cpfault`, see
    `tests.support.daemons`) that its tests may kill and start again, with its own agent and
    the test image. Its presence changes where unplaced containers go, so a module that asks
    for it places its containers explicitly."""
    from tests.support.daemons import FAULT_NODE_TAGS, start_extra_nodes

    with start_extra_nodes(fault_plane, docker_client, FAULT_NODE_TAGS) as (node,):
        yield node


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
