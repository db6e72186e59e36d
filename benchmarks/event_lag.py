"""Truth lag: from a change Docker makes outside the control plane to the new state in the API.

Runs the API, the reporter and one node agent for the local Docker Engine on a fresh SQLite file
and the broker given, starts CONTAINERS containers through the API, then kills each one by hand
with docker-py (as an operator or the OOM killer would) and measures, per container, the time
from Docker's own FinishedAt to the moment the API's GET shows it Stopped. Prints median and p99;
asserts nothing. Removes every container it made.

    .venv/bin/python benchmarks/event_lag.py redis://127.0.0.1:6379/3 [CONTAINERS]
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import docker
import requests
from node_loss import spawn, stop

BIN = Path(sys.executable).parent
IMAGE = "controlplane/busybox:latest"
POLL = 0.002


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker_time(value: str) -> float:
    """Seconds since the epoch from Docker's nanosecond RFC 3339 time."""
    main, _, rest = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(main + "+00:00").timestamp() + float("0." + (rest or "0"))


def wait(condition: Callable[[], Any], limit: float = 60) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL)
    raise SystemExit(f"gave up after {limit} s")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(broker_url: str, containers: int) -> None:
    state = Path(tempfile.mkdtemp(prefix="event-lag-"))
    port = free_port()
    node_uuid = str(uuid.uuid4())
    env = {
        **os.environ,
        "CONTROLPLANE_DATABASE_URL": f"sqlite:///{state}/cp.db",
        "CONTROLPLANE_BROKER_URL": broker_url,
        "CONTROLPLANE_AGENT_BROKER_URL": broker_url,
        "CONTROLPLANE_AGENT_NODE_UUID": node_uuid,
        "CONTROLPLANE_AGENT_STATE_DIR": str(state / "agent"),
    }
    cli = str(BIN / "controlplane")
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    key = subprocess.run(
        [cli, "user", "create", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    processes = [
        spawn("reporter", env, state / "reporter.log"),
        spawn("agent", env, state / "agent.log"),
    ]
    with (state / "api.log").open("ab") as log:
        processes.append(
            subprocess.Popen(
                [cli, "api", "--bind", f"127.0.0.1:{port}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    http = requests.Session()
    http.headers["Authorization"] = f"ApiKey bench:{key}"
    base = f"http://127.0.0.1:{port}/api/v1/container/"
    engine = docker.DockerClient()

    def state_is(uuid: str, state: str) -> Callable[[], bool]:
        return lambda: http.get(f"{base}{uuid}/", timeout=10).json()["state"] == state

    lags: list[float] = []
    try:
        wait(lambda: _answers(http, base))
        uuids = []
        for index in range(containers):
            made = wait(partial(_create, http, base, f"lag{index}", node_uuid))
            http.post(f"{base}{made}/start/", timeout=10)
            uuids.append(made)
        for made in uuids:
            wait(state_is(made, "Running"))
        for made in uuids:
            [container] = engine.containers.list(
                all=True, filters={"label": f"io.controlplane.container_uuid={made}"}
            )
            container.kill()
            wait(state_is(made, "Stopped"))
            seen = time.time()
            container.reload()
            lags.append(seen - docker_time(container.attrs["State"]["FinishedAt"]))
    finally:
        for container in engine.containers.list(
            all=True, filters={"label": f"io.controlplane.node_uuid={node_uuid}"}
        ):
            container.remove(force=True)
        for process in processes:
            stop(process)
    print(f"docker kill by hand -> Stopped in the API, {len(lags)} containers:")
    median, p99 = statistics.median(lags) * 1000, percentile(lags, 0.99) * 1000
    print(f"  median {median:.0f} ms, p99 {p99:.0f} ms, max {max(lags) * 1000:.0f} ms")


def _answers(http: requests.Session, base: str) -> bool:
    try:
        return http.get(base, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def _create(http: requests.Session, base: str, name: str, node_uuid: str) -> str | None:
    """Create on this run's node: heartbeats an earlier run left on the broker can register
    other (dead) nodes in the fresh database."""
    response = http.post(
        base,
        json={
            "image_name": IMAGE,
            "name": name,
            "run_command": "sh -c 'exec sleep 3600'",
            "node": node_uuid,
        },
        timeout=10,
    )
    return str(response.json()["uuid"]) if response.status_code == 201 else None


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
