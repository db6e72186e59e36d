"""The benchmark command runs end to end on a small scale, as the README gives it: every
scenario prints its table and writes its figures, and it leaves no container or swarm behind.
Timings are the benchmark's to print, never a test's to check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from controlplane.core.messages import LABEL_NODE_UUID
from tests.support.locations import ROOT

LABEL = "io.controlplane.benchmark"  # benchmarks/common.py's, which is not a package

pytestmark = pytest.mark.integration

# The benchmark flushes its Redis database before and after: one no other test uses.
BENCH_REDIS_URL = os.environ.get("CONTROLPLANE_TEST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SMALL = [
    "--runs", "2", "--networks", "bridge", "--swarm",
    "--throughput-containers", "3", "--throughput-rounds", "1", "--throughput-threads", "2",
    "--idle", "1", "--truth-containers", "2",
    "--api-sizes", "40", "--api-clients", "1,2", "--api-samples", "3", "--api-writes", "4",
]  # fmt: skip


def test_every_scenario_runs_and_leaves_nothing_behind(
    tmp_path: Path, image: str, docker_client: docker.DockerClient
) -> None:
    before = {container.id for container in docker_client.containers.list(all=True)}
    figures_file = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "run.py", *SMALL, "--json", str(figures_file), "--redis", BENCH_REDIS_URL],
        cwd=ROOT / "benchmarks",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]

    figures = json.loads(figures_file.read_text())
    assert {"start", "throughput", "resources", "truth", "api", "machine"} <= set(figures)
    bridge = figures["start"]["bridge"]
    assert [bridge[m][side]["n"] for m in ("start", "removal") for side in ("us", "raw")] == [2] * 4
    # Swarm either ran both rounds or said why not; either way it left no swarm behind.
    swarm = bridge["swarm"]
    assert swarm["n"] == 2 if isinstance(swarm, dict) else swarm.startswith("skipped")
    assert docker_client.info()["Swarm"]["LocalNodeState"] == "inactive"
    assert figures["truth"]["us"]["n"] == figures["truth"]["raw"]["n"] == 2
    assert set(figures["api"]["list"]) == {"40"}
    assert set(figures["api"]["write"]) == {"1", "2"}
    # Each phase's CPU, by process: ours has the plane's own, raw docker-py only the Engine and
    # the client; starting three containers costs the plane tens of milliseconds at least.
    cpu = figures["throughput"]["cpu_ms_per_container"]
    assert {"api", "reporter", "agent", "client"} <= set(cpu["us"]["start"])
    assert not {"api", "reporter", "agent"} & set(cpu["raw"]["start"])
    assert sum(cpu["us"]["start"].values()) > 0
    for table_line in ("start bridge", "truth lag", "CPU ms/container", "machine:"):
        assert table_line in result.stdout

    # Other suites may run beside this one on the same Engine (scripts/test.sh's lanes): only
    # what the benchmark made counts, by its label, its node's or its swarm service's name.
    left = [
        container.name
        for container in docker_client.containers.list(all=True, ignore_removed=True)
        if container.id not in before
        and (
            LABEL in container.labels
            or container.labels.get(LABEL_NODE_UUID) == figures["node_uuid"]
            or container.name.startswith("bench-swarm-")
        )
    ]
    assert left == [], "the benchmark left containers behind"


def test_the_simulated_fleet_runs_and_prints_its_figures(tmp_path: Path) -> None:
    """benchmarks/scale.py on a tiny fleet: its own Redis server, reporter and API, five
    simulated nodes; every phase prints its figures (none is checked)."""
    figures_file = tmp_path / "scale.json"
    result = subprocess.run(
        [
            sys.executable, "scale.py", "--nodes", "5", "--containers", "20",
            "--service-size", "10", "--clients", "2", "--idle", "2", "--relist-interval", "2",
            "--list-samples", "3", "--deadline", "120", "--json", str(figures_file),
        ],
        cwd=ROOT / "benchmarks",
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    figures = json.loads(figures_file.read_text())
    assert {"heartbeats", "starts", "steady", "changes"} <= set(figures)
    assert figures["heartbeats"]["nodes"] == 5
    assert figures["starts"]["containers"] == 20
    for line in ("container starts per second", "reporter changes per second", "event lag"):
        assert line in result.stdout
