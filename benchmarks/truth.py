"""Scenario 3: truth lag, from a change Docker makes outside the control plane to the new state
in the API.

Starts CONTAINERS containers through the API, then kills each one by hand with docker-py (as an
operator or the OOM killer would) and measures, per container, the time from Docker's own
FinishedAt to the moment the API's GET shows it Stopped, polling every 2 ms.
"""

from __future__ import annotations

import time
from typing import Any

import docker
from common import Plane, docker_time, summary, wait


def measure(plane: Plane, engine: docker.DockerClient, *, containers: int) -> dict[str, Any]:
    made = [wait(plane.create) for _ in range(containers)]
    for ident in made:
        plane.action(ident, "start")
    for ident in made:
        plane.wait_state(ident, "Running")
    lags = []
    for ident in made:
        container = plane.docker_container(engine, ident)
        container.kill()
        plane.wait_state(ident, "Stopped")
        seen = time.time()
        container.reload()
        lags.append(seen - docker_time(container.attrs["State"]["FinishedAt"]))
    for ident in made:
        plane.action(ident, "terminate")
    return {"lag": summary(lags), "samples_s": lags}


def table(results: dict[str, Any]) -> str:
    lag = results["lag"]
    return (
        f"truth lag (docker kill by hand -> Stopped in the API), {lag['n']} containers: "
        f"median {lag['median_ms']:.1f} ms, p90 {lag['p90_ms']:.1f} ms, "
        f"p99 {lag['p99_ms']:.1f} ms, max {lag['max_ms']:.1f} ms"
    )
