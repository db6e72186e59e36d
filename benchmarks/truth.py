"""Scenario 3: truth lag, from a change Docker makes outside the control plane to the new state
in the API.

Starts CONTAINERS containers through the API, then kills each one by hand with docker-py (as an
operator or the OOM killer would) and measures, per container, from Docker's own FinishedAt:

- us: until the API shows it Stopped (its event on the API's events socket, confirmed by a
  GET), while the kill runs in another thread: `docker kill` returns only after Docker's
  clean-up, well after the process ended;
- raw: until a docker-py client following Docker's event stream (as our agent does) receives
  the `die` event. Docker sends that event some 30-40 ms after FinishedAt; that part of the lag
  is the engine's, and no client of its API can see the change sooner.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

import docker
from common import Plane, docker_time, summary, wait


class DieListener:
    """Docker's event stream in a thread: when each container's `die` event arrived."""

    def __init__(self, engine: docker.DockerClient, node_uuid: str) -> None:
        self.arrived: dict[str, float] = {}
        self._feed = engine.events(
            decode=True,
            filters={"event": "die", "label": f"io.controlplane.node_uuid={node_uuid}"},
        )
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            for event in self._feed:
                self.arrived[event["id"]] = time.time()
        except Exception:  # noqa: BLE001 - the stream closes with an error on close()
            pass

    def close(self) -> None:
        self._feed.close()


def kill_one(plane: Plane, engine: docker.DockerClient, made: str) -> tuple[float, Any]:
    """Kill the container by hand; when the API showed it Stopped, and the container."""
    container = plane.docker_container(engine, made)
    killer = threading.Thread(target=container.kill)
    killer.start()
    shown = plane.wait_state(made, "Stopped")
    seen = time.time() - (time.perf_counter() - shown)  # the same moment on the wall clock
    killer.join()
    container.reload()
    return seen, container


def measure(plane: Plane, engine: docker.DockerClient, *, containers: int) -> dict[str, Any]:
    made = [wait(plane.create) for _ in range(containers)]
    for ident in made:
        plane.action(ident, "start")
    for ident in made:
        plane.wait_state(ident, "Running")
    lags: dict[str, list[float]] = {"us": [], "raw": []}
    listener = DieListener(engine, plane.node_uuid)
    try:
        for ident in made:
            seen, container = kill_one(plane, engine, ident)
            finished = docker_time(container.attrs["State"]["FinishedAt"])
            lags["us"].append(seen - finished)
            lags["raw"].append(wait(partial(listener.arrived.get, container.id)) - finished)
    finally:
        listener.close()
    for ident in made:
        plane.action(ident, "terminate")
    return {side: summary(values) for side, values in lags.items()} | {"samples_s": lags}


def table(results: dict[str, Any]) -> str:
    lines = ["truth lag: docker kill by hand, from Docker's FinishedAt to"]
    for side, what in (("us", "Stopped in the API"), ("raw", "docker-py's die event")):
        lag = results[side]
        lines.append(
            f"  {what:<22} n {lag['n']:>3}  median {lag['median_ms']:6.1f} ms  "
            f"p90 {lag['p90_ms']:6.1f} ms  p99 {lag['p99_ms']:6.1f} ms  max {lag['max_ms']:6.1f} ms"
        )
    extra = results["us"]["median_ms"] - results["raw"]["median_ms"]
    lines.append(f"  ours after Docker's event (difference of medians): {extra:.1f} ms")
    return "\n".join(lines)
