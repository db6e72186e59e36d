"""How long a service takes to scale 1 -> 10 -> 1 and to redeploy 10 containers, on three nodes.

Runs the API, the reporter and three node agents (three enrolled nodes, all on the local Docker
Engine: each agent acts only on its own node's containers) on a fresh SQLite file and the broker
given; makes one HIGH_AVAILABILITY service of one container, then ROUNDS times scales it to 10
and back to 1, timing each from the scale request until the API shows the service Running with
that many containers; then times a rolling redeploy of all ten. The raw side: the same 9
containers created and started straight through docker-py (10 threads), then removed. Prints
the figures; asserts nothing.

    .venv/bin/python benchmarks/service_scale.py redis://127.0.0.1:6379/9 [ROUNDS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
from common import COMMAND, IMAGE, LABEL, Plane, enroll, raw_container, spawn, summary, wait

ROUNDS = 5
SCALE = 10
AGENTS = 2  # beside the plane's own


def service_call(plane: Plane, method: str, path: str, **body: Any) -> dict[str, Any]:
    url = plane.base.replace("/container/", "/service/") + path
    response = plane.http.request(method, url, json=body or None, timeout=30)
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text}")
    return dict(response.json())


def seconds_until(plane: Plane, uuid: str, count: int, since: float) -> float:
    def settled() -> bool:
        shown = service_call(plane, "GET", f"{uuid}/")
        return shown["state"] == "Running" and shown["current_num_containers"] == count

    wait(settled, limit=300, poll=0.05)
    return time.perf_counter() - since


def scale(plane: Plane, uuid: str, count: int) -> float:
    started = time.perf_counter()
    service_call(plane, "POST", f"{uuid}/scale/", target_num_containers=count)
    return seconds_until(plane, uuid, count, started)


def raw_round(engine: docker.DockerClient) -> tuple[float, float]:
    """Seconds to create and start SCALE - 1 containers with docker-py, then to remove them."""
    started = time.perf_counter()
    with ThreadPoolExecutor(SCALE) as pool:
        made = list(
            pool.map(
                lambda _: raw_container(
                    engine, prefix="raw-scale", labels={LABEL: "service_scale"}, net="bridge"
                ),
                range(SCALE - 1),
            )
        )
    up = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(SCALE) as pool:
        list(pool.map(lambda c: c.remove(force=True), made))
    return up, time.perf_counter() - started


def main() -> None:
    broker_url = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else ROUNDS
    engine = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as state:
        plane = Plane(broker_url, Path(state))
        for index in range(AGENTS):
            env = {**plane.env, "CONTROLPLANE_AGENT_TOKEN": enroll(plane.env, f"bench-{index}")}
            log = Path(state) / f"agent-{index}.log"
            plane.processes[f"agent-{index}"] = spawn(["agent"], env, log)
        try:
            plane.ready()
            wait(lambda: _deployed(plane) >= 1 + AGENTS, limit=60)
            made = service_call(
                plane,
                "POST",
                "",
                image=IMAGE,
                name="bench",
                run_command=COMMAND,
                deployment_strategy="HIGH_AVAILABILITY",
            )
            started = time.perf_counter()
            service_call(plane, "POST", f"{made['uuid']}/start/")
            first = seconds_until(plane, made["uuid"], 1, started)
            ups, downs, raw_ups, raw_downs = [], [], [], []
            for _ in range(rounds):
                ups.append(scale(plane, made["uuid"], SCALE))
                downs.append(scale(plane, made["uuid"], 1))
                raw_up, raw_down = raw_round(engine)
                raw_ups.append(raw_up)
                raw_downs.append(raw_down)
            scale(plane, made["uuid"], SCALE)
            started = time.perf_counter()
            service_call(plane, "POST", f"{made['uuid']}/redeploy/")
            wait(
                lambda: service_call(plane, "GET", f"{made['uuid']}/")["state"] == "Redeploying",
                limit=30,
                poll=0.01,
            )
            redeploy = seconds_until(plane, made["uuid"], SCALE, started)
            nodes = _placement(plane, made["uuid"])
        finally:
            plane.close(engine)
    print(f"service on {1 + AGENTS} nodes, {rounds} rounds; first start {first:.2f} s")
    for name, values in (
        (f"scale 1 -> {SCALE}", ups),
        (f"scale {SCALE} -> 1", downs),
        (f"raw docker-py: {SCALE - 1} up", raw_ups),
        (f"raw docker-py: {SCALE - 1} removed", raw_downs),
    ):
        figures = summary(values)
        median, p99 = figures["median_ms"] / 1000, figures["p99_ms"] / 1000
        print(f"{name:32} median {median:.2f} s  p99 {p99:.2f} s")
    ratio = summary(ups)["median_ms"] / summary(raw_ups)["median_ms"]
    print(f"ratio scale up / raw docker-py: {ratio:.1f}")
    print(f"rolling redeploy of {SCALE}: {redeploy:.2f} s; containers per node {nodes}")


def _deployed(plane: Plane) -> int:
    url = plane.base.replace("/container/", "/node/")
    listed = plane.http.get(url, params={"state": "Deployed"}, timeout=10).json()
    return int(listed["meta"]["total_count"])


def _placement(plane: Plane, uuid: str) -> list[int]:
    shown = service_call(plane, "GET", f"{uuid}/")
    per_node: dict[str, int] = {}
    for uri in shown["containers"]:
        node = plane.http.get(plane.base.split("/api/")[0] + uri, timeout=10).json()["node"]
        per_node[node] = per_node.get(node, 0) + 1
    return sorted(per_node.values())


if __name__ == "__main__":
    main()
