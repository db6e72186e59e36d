"""The control plane against raw Docker: start and removal latency, interleaved in one run.

Starts the API, the reporter and one node agent for the local Docker Engine on a fresh SQLite
file in a temporary directory and the Redis database given, then RUNS times, in pairs so that
load drift hits both sides alike (us, raw, us, raw, ...):

- start: the API's POST .../start/ until its GET shows Running (the container is created first
  through the API, untimed; nothing is on Docker until the start), against docker-py
  `containers.create(...)` + `start()` until inspect says running;
- removal: the API's DELETE until its GET shows Terminated, against `remove(force=True)`;
- to_docker: the part of each start up to Docker's own `State.StartedAt` (the rest of the
  start is the report's way back to the API), a breakdown of where our start time goes.

Both sides use the same image, command (`sh -c 'exec sleep 3600'`) and `init=True`. With
--swarm each round also times a Docker Swarm service (one replica, the image by its id so Swarm
asks no registry, same command, `init`) from its create until its task runs, between the raw
start and the removals; it makes a single-node swarm on loopback for the run and always leaves
it (skipped, and said so, if the init fails or the engine is already in a swarm).
Prints a table (median, p90, p99, ratio us/raw) and, with --json, writes the figures. Asserts
nothing. Removes every container, service and swarm state it made.

    .venv/bin/python benchmarks/run.py [--runs 30] [--json out.json] [--swarm]
        [--redis redis://127.0.0.1:6379/3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker
import requests
from event_lag import docker_time, free_port, percentile
from node_loss import spawn, stop

BIN = Path(sys.executable).parent
IMAGE = "controlplane/busybox:latest"
COMMAND = "sh -c 'exec sleep 3600'"
LABEL = "io.controlplane.benchmark"
POLL = 0.002
LIMIT = 60.0


def wait(condition: Any, limit: float = LIMIT) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL)
    raise RuntimeError(f"gave up after {limit} s")


class Plane:
    """The API, reporter and agent on a fresh SQLite file, and an API client for them."""

    def __init__(self, broker_url: str, state: Path) -> None:
        self.node_uuid = str(uuid.uuid4())
        port = free_port()
        env = {
            **os.environ,
            "CONTROLPLANE_DATABASE_URL": f"sqlite:///{state}/cp.db",
            "CONTROLPLANE_BROKER_URL": broker_url,
            "CONTROLPLANE_AGENT_BROKER_URL": broker_url,
            "CONTROLPLANE_AGENT_NODE_UUID": self.node_uuid,
            "CONTROLPLANE_AGENT_STATE_DIR": str(state / "agent"),
        }
        cli = str(BIN / "controlplane")
        subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        key = subprocess.run(
            [cli, "user", "create", "bench"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        self.processes = [
            spawn("reporter", env, state / "reporter.log"),
            spawn("agent", env, state / "agent.log"),
        ]
        with (state / "api.log").open("ab") as log:
            self.processes.append(
                subprocess.Popen(
                    [cli, "api", "--bind", f"127.0.0.1:{port}"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"ApiKey bench:{key}"
        self.base = f"http://127.0.0.1:{port}/api/v1/container/"

    def ready(self) -> None:
        wait(self._answers)
        # The create is refused until the agent's node is Deployed; warm up with one container.
        made = wait(self.create)
        self.start(made)
        self.remove(made)

    def _answers(self) -> bool:
        try:
            return self.http.get(self.base, timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def state_of(self, made: str) -> str:
        return str(self.http.get(f"{self.base}{made}/", timeout=10).json()["state"])

    def create(self) -> str | None:
        response = self.http.post(
            self.base,
            json={
                "image_name": IMAGE,
                "name": f"b{uuid.uuid4().hex[:8]}",
                "run_command": COMMAND,
                # Pinned to this run's agent: heartbeats an earlier run left queued on the same
                # Redis database register its (gone) node too, Deployed until its lease ends.
                "node": self.node_uuid,
            },
            timeout=10,
        )
        return str(response.json()["uuid"]) if response.status_code == 201 else None

    def start(self, made: str) -> float:
        started = time.perf_counter()
        response = self.http.post(f"{self.base}{made}/start/", timeout=10)
        if response.status_code >= 300:
            raise RuntimeError(f"start answered {response.status_code}: {response.text}")
        wait(lambda: self.state_of(made) == "Running")
        return time.perf_counter() - started

    def remove(self, made: str) -> float:
        started = time.perf_counter()
        response = self.http.delete(f"{self.base}{made}/", timeout=10)
        if response.status_code >= 300:
            raise RuntimeError(f"delete answered {response.status_code}: {response.text}")
        wait(lambda: self.state_of(made) == "Terminated")
        return time.perf_counter() - started

    def docker_container(self, engine: docker.DockerClient, made: str) -> Any:
        [container] = engine.containers.list(
            all=True, filters={"label": f"io.controlplane.container_uuid={made}"}
        )
        return container

    def close(self, engine: docker.DockerClient) -> None:
        for container in engine.containers.list(
            all=True, filters={"label": f"io.controlplane.node_uuid={self.node_uuid}"}
        ):
            container.remove(force=True)
        for process in self.processes:
            stop(process)


def raw_start(engine: docker.DockerClient, run_id: str) -> tuple[float, Any]:
    started = time.perf_counter()
    container = engine.containers.create(
        IMAGE, COMMAND, name=f"bench-raw-{uuid.uuid4().hex[:8]}", init=True, labels={LABEL: run_id}
    )
    container.start()

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

    def start(self) -> float:
        """Seconds from the service create to its task running; the service is then removed."""
        started = time.perf_counter()
        service = self.engine.services.create(
            self.image_id,
            ["sh", "-c", "exec sleep 3600"],
            name=f"bench-swarm-{uuid.uuid4().hex[:8]}",
            labels={LABEL: self.run_id},
            init=True,
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


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": statistics.median(values) * 1000,
        "p90_ms": percentile(values, 0.90) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
        "max_ms": max(values) * 1000,
    }


LEGEND = "ratio: median us/raw; to_docker: start request -> Docker's StartedAt"


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{'measure':<10} {'side':<5} {'n':>4} {'median ms':>10} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'ratio':>10}",
    ]
    for measure in ("start", "removal", "to_docker"):
        ours, raw = results[measure]["us"], results[measure]["raw"]
        ratio = ours["median_ms"] / raw["median_ms"]
        for side, figures in (("us", ours), ("raw", raw)):
            shown = f"{ratio:.2f}x" if side == "us" else ""
            lines.append(
                f"{measure:<10} {side:<5} {figures['n']:>4} {figures['median_ms']:>10.1f} "
                f"{figures['p90_ms']:>8.1f} {figures['p99_ms']:>8.1f} "
                f"{figures['max_ms']:>8.1f} {shown:>10}"
            )
    swarm = results.get("swarm")
    if isinstance(swarm, dict):
        ratio = swarm["median_ms"] / results["start"]["us"]["median_ms"]
        lines.append(
            f"{'start':<10} {'swarm':<5} {swarm['n']:>4} {swarm['median_ms']:>10.1f} "
            f"{swarm['p90_ms']:>8.1f} {swarm['p99_ms']:>8.1f} {swarm['max_ms']:>8.1f} "
            f"{ratio:>8.2f}x*"
        )
        lines.append(LEGEND + "; * swarm/us")
    else:
        lines.append(LEGEND)
        if swarm:
            lines.append(f"swarm: {swarm}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--swarm", action="store_true", help="also time a Docker Swarm service")
    args = parser.parse_args()

    engine = docker.DockerClient()
    run_id = uuid.uuid4().hex
    state = Path(tempfile.mkdtemp(prefix="bench-"))
    times: dict[str, dict[str, list[float]]] = {
        "start": {"us": [], "raw": []},
        "removal": {"us": [], "raw": []},
        "to_docker": {"us": [], "raw": []},
    }
    swarm_seconds: list[float] = []
    swarm = None
    plane = Plane(args.redis, state)
    try:
        if args.swarm:
            swarm = Swarm(engine, run_id)
            if swarm.skipped:
                print(swarm.skipped)
        plane.ready()
        raw_remove(raw_start(engine, run_id)[1])  # the raw side's warm-up
        for _ in range(args.runs):
            made = wait(plane.create)  # untimed: nothing is on Docker before the start
            posted = time.time()
            times["start"]["us"].append(plane.start(made))
            times["to_docker"]["us"].append(
                started_at(plane.docker_container(engine, made)) - posted
            )
            posted = time.time()
            seconds, container = raw_start(engine, run_id)
            times["start"]["raw"].append(seconds)
            times["to_docker"]["raw"].append(started_at(container) - posted)
            if swarm is not None and not swarm.skipped:
                swarm_seconds.append(swarm.start())
            times["removal"]["us"].append(plane.remove(made))
            times["removal"]["raw"].append(raw_remove(container))
    finally:
        if swarm is not None:
            swarm.leave()  # always, even on failure
        for container in engine.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
            container.remove(force=True)
        plane.close(engine)
    results: dict[str, Any] = {
        measure: {side: summary(values) for side, values in sides.items()}
        for measure, sides in times.items()
    }
    if swarm is not None:
        results["swarm"] = summary(swarm_seconds) if swarm_seconds else swarm.skipped
    version = engine.version()
    results["machine"] = {
        "cpus": os.cpu_count(),
        "docker": version.get("Version"),
        "python": platform.python_version(),
        "database": "sqlite",
        "runs": args.runs,
    }
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({**results, "raw_seconds": times}, indent=2) + "\n")
    shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
