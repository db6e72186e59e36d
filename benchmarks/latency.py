"""Scenario 1: start and removal latency, one container at a time, against raw docker-py and
(optionally) a Docker Swarm service, interleaved in one run per network mode.

Each round, in turn (so that load drift hits every side alike):

- start: the API's POST .../start/ until its GET shows Running (the container is created first
  through the API, untimed; nothing is on Docker until the start), against docker-py
  `containers.create(...)` + `start()` until inspect says running;
- to_docker: the part of each start up to Docker's own `State.StartedAt` (the rest of the
  start is the report's way back to the API), a breakdown of where our start time goes;
- swarm: a one-replica service (the image by its id so Swarm asks no registry) from its create
  until its task runs, on a single-node swarm on loopback that the run makes and always leaves
  (skipped, and said so, if the init fails or the engine is already in a swarm);
- removal: the API's DELETE until its GET shows Terminated, against `remove(force=True)`.

Both sides use the same image, command (`sh -c 'exec sleep 3600'`), `init` and network mode.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import docker
from common import IMAGE, LABEL, Plane, docker_time, raw_container, summary, wait

MEASURES = ("start", "removal", "to_docker")


def raw_start(engine: docker.DockerClient, run_id: str, net: str) -> tuple[float, Any]:
    started = time.perf_counter()
    container = raw_container(engine, prefix="bench-raw", labels={LABEL: run_id}, net=net)

    def running() -> bool:
        container.reload()
        return bool(container.attrs["State"]["Running"])

    wait(running)
    return time.perf_counter() - started, container


def started_at(container: Any) -> float:
    """Docker's own StartedAt, in seconds since the epoch."""
    container.reload()
    return docker_time(container.attrs["State"]["StartedAt"])


def raw_remove(container: Any) -> float:
    started = time.perf_counter()
    container.remove(force=True)
    return time.perf_counter() - started


class Swarm:
    """A single-node swarm on loopback (`docker swarm init --advertise-addr 127.0.0.1
    --listen-addr 127.0.0.1:2377`, through docker-py), timing one-replica services."""

    def __init__(self, engine: docker.DockerClient, run_id: str) -> None:
        self.engine, self.run_id = engine, run_id
        self.skipped = ""
        self.ours = False  # never leave a swarm this run did not make
        if engine.info().get("Swarm", {}).get("LocalNodeState") != "inactive":
            self.skipped = "skipped: this Docker Engine is already part of a swarm"
            return
        # By id, so Swarm asks no registry for the image; looked up before anything can fail
        # with a swarm made and no one to leave it.
        self.image_id = engine.images.get(IMAGE).id
        # Swarm makes the docker_gwbridge network and leaves it behind; remove it if it is ours.
        self.had_gwbridge = _gwbridge(engine) is not None
        try:
            engine.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
        except docker.errors.APIError as error:
            self.skipped = f"skipped: swarm init failed: {error.explanation or error}"
            self.ours = True  # a half-made swarm is left too
            self.leave()
            return
        self.ours = True

    def start(self, net: str) -> float:
        """Seconds from the service create to its task running; the service is then removed.
        Swarm's default network for a service is its bridge; host and none are named."""
        started = time.perf_counter()
        service = self.engine.services.create(
            self.image_id,
            ["sh", "-c", "exec sleep 3600"],
            name=f"bench-swarm-{uuid.uuid4().hex[:8]}",
            labels={LABEL: self.run_id},
            init=True,
            networks=[] if net == "bridge" else [net],
        )
        try:
            wait(lambda: any(t["Status"]["State"] == "running" for t in service.tasks()))
            return time.perf_counter() - started
        finally:
            service.remove()

    def leave(self) -> None:
        if not self.ours:
            return
        try:
            for service in self.engine.services.list(filters={"label": f"{LABEL}={self.run_id}"}):
                service.remove()
        except docker.errors.APIError:  # not a swarm manager (the init failed)
            pass
        try:
            self.engine.swarm.leave(force=True)
        except docker.errors.APIError:  # not part of a swarm
            pass
        if not self.had_gwbridge:
            network = _gwbridge(self.engine)
            try:
                if network is not None:
                    network.remove()
            except docker.errors.APIError:  # still in use, or already gone
                pass


def _gwbridge(engine: docker.DockerClient) -> Any:
    # The name filter matches parts of names too.
    for network in engine.networks.list(names=["docker_gwbridge"]):
        if network.name == "docker_gwbridge":
            return network
    return None


def measure(
    plane: Plane,
    engine: docker.DockerClient,
    *,
    run_id: str,
    runs: int,
    net: str,
    swarm: Swarm | None,
) -> dict[str, Any]:
    """RUNS interleaved rounds on network mode `net`: figures per measure and side, and every
    sample in seconds."""
    times: dict[str, dict[str, list[float]]] = {m: {"us": [], "raw": []} for m in MEASURES}
    swarm_seconds: list[float] = []
    raw_remove(raw_start(engine, run_id, net)[1])  # the raw side's warm-up for this mode
    for _ in range(runs):
        made = wait(lambda: plane.create(net=net))  # untimed: nothing is on Docker yet
        posted = time.time()
        times["start"]["us"].append(plane.start(made))
        times["to_docker"]["us"].append(started_at(plane.docker_container(engine, made)) - posted)
        posted = time.time()
        seconds, container = raw_start(engine, run_id, net)
        times["start"]["raw"].append(seconds)
        times["to_docker"]["raw"].append(started_at(container) - posted)
        if swarm is not None and not swarm.skipped:
            swarm_seconds.append(swarm.start(net))
        times["removal"]["us"].append(plane.remove(made))
        times["removal"]["raw"].append(raw_remove(container))
    results: dict[str, Any] = {
        measure: {side: summary(values) for side, values in sides.items()}
        for measure, sides in times.items()
    }
    if swarm is not None:
        results["swarm"] = summary(swarm_seconds) if swarm_seconds else swarm.skipped
    results["samples_s"] = {**times, "swarm": swarm_seconds}
    return results


def row(measure: str, side: str, figures: dict[str, float], ratio: str) -> str:
    return (
        f"{measure:<16} {side:<5} {figures['n']:>4} {figures['median_ms']:>10.1f} "
        f"{figures['p90_ms']:>8.1f} {figures['p99_ms']:>8.1f} {figures['max_ms']:>8.1f} "
        f"{ratio:>8}"
    )


def table(by_net: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'measure':<16} {'side':<5} {'n':>4} {'median ms':>10} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'ratio':>8}",
    ]
    notes = []
    for net, results in by_net.items():
        for measure in MEASURES:
            ours, raw = results[measure]["us"], results[measure]["raw"]
            ratio = f"{ours['median_ms'] / raw['median_ms']:.2f}x"
            lines.append(row(f"{measure} {net}", "us", ours, ratio))
            lines.append(row(f"{measure} {net}", "raw", raw, ""))
        swarm = results.get("swarm")
        if isinstance(swarm, dict):
            ratio = f"{swarm['median_ms'] / results['start']['us']['median_ms']:.2f}x*"
            lines.append(row(f"start {net}", "swarm", swarm, ratio))
        elif swarm:
            notes.append(f"swarm: {swarm}")
    lines.append("ratio: median us/raw, * swarm/us; to_docker: start request -> Docker's StartedAt")
    return "\n".join(lines + notes)
