"""An in-memory container engine with the interface of `workers.docker.driver.DockerDriver`
(`workers.engine.Engine`), for simulating many nodes with the agent's own code
(benchmarks/fakenodes.py): a container is created and starts at once, stops and goes away at
once, and answers with the observations Docker would (its own start and finish times, a Docker
id, its status). It never imports docker-py and never touches a Docker Engine.

`kill_all` stops every running container as a process that exits would, and returns the
changes as Docker's `die` events would tell the agent's watcher.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from controlplane.core.lifecycle import State
from controlplane.core.messages import Collect, ContainerSpec, DockerContainer
from workers.engine import NodeFacts, NodeListing, Observation

FACTS = NodeFacts(docker_version="fake-27.0", cpu=8, memory_mb=32768, disk_gb=500)


@dataclass
class FakeContainer:
    uuid: str
    docker_id: str
    created_ns: int
    status: str = "created"  # created, running, exited
    started_ns: int | None = None
    finished_ns: int | None = None
    exit_code: int = 0

    def observation(self) -> Observation:
        if self.status == "running":
            assert self.started_ns is not None
            return Observation(State.RUNNING, self.started_ns, docker_id=self.docker_id)
        return Observation(
            State.STOPPED,
            self.finished_ns or time.time_ns(),
            exit_code=self.exit_code,
            docker_id=self.docker_id,
        )


class FakeEngine:
    """One simulated node's engine; safe to share between threads, as the driver is."""

    def __init__(self, node_uuid: str) -> None:
        self.node_uuid = node_uuid
        self._lock = threading.Lock()
        self._containers: dict[str, FakeContainer] = {}

    def facts(self) -> NodeFacts:
        return FACTS

    def start(self, spec: ContainerSpec, *, issued_ns: int, fresh: bool = False) -> Observation:
        """Create unless it exists, then start unless it runs or stopped after `issued_ns` (a
        redelivered start overtaken by a later stop), as the driver does."""
        with self._lock:
            container = self._containers.get(spec.uuid)
            if container is None:
                container = self._containers[spec.uuid] = _new(spec.uuid)
            if container.status != "running" and (
                container.finished_ns is None or container.finished_ns < issued_ns
            ):
                container.status, container.started_ns = "running", time.time_ns()
            return container.observation()

    def redeploy(
        self, spec: ContainerSpec, *, issued_ns: int, reuse_volumes: bool, stop_timeout: int
    ) -> Observation:
        with self._lock:
            current = self._containers.get(spec.uuid)
            if current is None or current.created_ns < issued_ns:
                current = self._containers[spec.uuid] = _new(spec.uuid)
            if current.status != "running":
                current.status, current.started_ns = "running", time.time_ns()
            return current.observation()

    def stop(self, container_uuid: str, *, timeout: int) -> Observation:
        with self._lock:
            container = self._containers.get(container_uuid)
            if container is None:
                return Observation(state=State.STOPPED, observed_ns=time.time_ns())
            if container.status == "running":
                container.status, container.finished_ns = "exited", time.time_ns()
            return container.observation()

    def remove(self, container_uuid: str) -> Observation:
        with self._lock:
            self._containers.pop(container_uuid, None)
        return Observation(state=State.TERMINATED, observed_ns=time.time_ns())

    def collect(self, orphan: Collect) -> bool:
        with self._lock:
            container = self._containers.get(orphan.container_uuid)
            if container is None or container.docker_id != orphan.docker_id:
                return False
            if orphan.created_only and container.status != "created":
                return False
            del self._containers[orphan.container_uuid]
            return True

    def logs(self, container_uuid: str, *, tail: int | None) -> str:
        return ""

    def node_picture(self) -> NodeListing:
        """Every container, as `DockerDriver.node_picture` lists them: never-started ones only
        in the inventory."""
        listing = NodeListing()
        with self._lock:
            for container in sorted(self._containers.values(), key=lambda c: c.created_ns):
                if container.status != "created":
                    listing.observations[container.uuid] = container.observation()
                listing.inventory.append(
                    DockerContainer(
                        container_uuid=container.uuid,
                        docker_id=container.docker_id,
                        created_ns=container.created_ns,
                        status=container.status,
                    )
                )
        return listing

    def kill_all(self, exit_code: int = 137) -> dict[str, Observation]:
        """Every running container exits now; what its `die` event would say, by uuid."""
        died: dict[str, Observation] = {}
        with self._lock:
            now = time.time_ns()
            for container in self._containers.values():
                if container.status == "running":
                    container.status, container.finished_ns = "exited", now
                    container.exit_code = exit_code
                    died[container.uuid] = container.observation()
        return died


def _new(uuid: str) -> FakeContainer:
    return FakeContainer(uuid=uuid, docker_id=secrets.token_hex(32), created_ns=time.time_ns())
