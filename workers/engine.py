"""What the agent needs of a node's container engine, and what it learns from it, without
docker-py.

`Engine` is the part of `workers.docker.driver.DockerDriver` that the operations
(`workers.tasks`), the heartbeat and the relist call, as a protocol: the agent's production
engine is the Docker driver, and a stand-in with the same methods (benchmarks/fakeengine.py
simulates thousands of nodes in memory) runs the same agent code. `Observation`,
`NodeListing` and `NodeFacts` are what an engine answers; they live here, not in
`workers.docker`, so code that only reads them need not import docker-py. Stdlib and the core
only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from controlplane.core.lifecycle import State
from controlplane.core.messages import Collect, ContainerSpec, DockerContainer


@dataclass(frozen=True)
class NodeFacts:
    """What the node offers, as its heartbeat reports it (`workers.docker.host`)."""

    docker_version: str
    cpu: int
    memory_mb: int
    disk_gb: int


@dataclass(frozen=True)
class Observation:
    """What the engine says about a container, and when it saw it so."""

    state: State
    observed_ns: int
    exit_code: int | None = None
    docker_id: str | None = None
    # Host ports the engine bound ({protocol, inner_port, host_ip, outer_port}); none unless
    # running.
    ports: list[dict[str, Any]] = field(default_factory=list)
    # Why it stopped or went away, when the exit code alone does not say (an OOM kill).
    reason: str | None = None
    # Running, with its processes frozen (`docker pause`).
    paused: bool = False


@dataclass
class NodeListing:
    """A node's containers at one moment: what the relist sends (`Engine.node_picture`)."""

    observations: dict[str, Observation] = field(default_factory=dict)
    inventory: list[DockerContainer] = field(default_factory=list)


class Engine(Protocol):
    """The operations the agent's tasks, heartbeat and relist run on a node's engine; the
    Docker driver's docstrings say what each must do."""

    def facts(self) -> NodeFacts: ...

    def start(self, spec: ContainerSpec, *, issued_ns: int, fresh: bool = False) -> Observation: ...

    def redeploy(
        self, spec: ContainerSpec, *, issued_ns: int, reuse_volumes: bool, stop_timeout: int
    ) -> Observation: ...

    def stop(self, container_uuid: str, *, timeout: int) -> Observation: ...

    def remove(self, container_uuid: str) -> Observation: ...

    def collect(self, orphan: Collect) -> bool: ...

    def logs(self, container_uuid: str, *, tail: int | None) -> str: ...

    def node_picture(self) -> NodeListing: ...
