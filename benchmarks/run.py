"""The control plane against raw Docker (and Docker Swarm), every scenario in one run.

Starts the API (gunicorn, as `controlplane api` serves it), the reporter and one node agent for
the local Docker Engine on a fresh SQLite file in a temporary directory (or, `--database
postgres`, a fresh database on the cluster `CONTROLPLANE_TEST_POSTGRES_URL` names, dropped
afterwards) and the Redis database given, runs the scenarios chosen (all by default) with the
raw docker-py baseline in the same run, prints a table per scenario and, with --json, writes
every figure and sample. Asserts nothing. Removes every container, service and swarm state it
made. The Redis database given is flushed before and after: use one nothing else uses.

    .venv/bin/python benchmarks/run.py [--only start,throughput,resources,truth,api]
        [--runs 30] [--networks bridge,host] [--swarm] [--throughput-containers 100]
        [--throughput-rounds 2] [--api-sizes 1000,10000,100000] [--api-clients 1,10,50]
        [--api-samples 100] [--api-writes 300] [--json out.json] [--keep]
        [--redis redis://127.0.0.1:6379/3] [--database sqlite|postgres]

Scenarios (each module's docstring says exactly what it times):
  start       latency.py     start and removal latency, one container at a time, per network mode
  throughput  throughput.py  many containers started, stopped and removed at once (containers/s)
  resources   resources.py   RSS of the API, reporter and agent at idle and during throughput
  truth       truth.py       a Docker event outside the API -> the new state in the API
  api         api_load.py    list latency at 1k/10k/100k records; create and action latency and
                             throughput at 1, 10 and 50 concurrent clients (an API and database
                             of its own: its records never reach the other scenarios)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import api_load
import docker
import latency
import redis
import resources
import throughput
import truth
from common import LABEL, Plane, bench_database

SCENARIOS = ("start", "throughput", "resources", "truth", "api")
# The scenarios that run on the shared plane (API, reporter, agent).
PLANE_SCENARIOS = ("start", "throughput", "resources", "truth")


def numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated: {','.join(SCENARIOS)}"
    )
    parser.add_argument("--runs", type=int, default=30, help="start rounds per network mode")
    parser.add_argument("--networks", default="bridge,host", help="network modes for start")
    parser.add_argument("--throughput-containers", type=int, default=100)
    parser.add_argument(
        "--throughput-rounds", type=int, default=2, help="rounds per side, first side alternating"
    )
    parser.add_argument("--throughput-threads", type=int, default=10, help="client threads")
    parser.add_argument(
        "--idle", type=float, default=10, help="seconds of idle RSS sampling for resources"
    )
    parser.add_argument("--truth-containers", type=int, default=50)
    parser.add_argument("--api-samples", type=int, default=100, help="requests per list figure")
    parser.add_argument(
        "--api-writes", type=int, default=300, help="creates (and starts) per concurrency"
    )
    parser.add_argument(
        "--api-sizes", type=numbers, default="1000,10000,100000", help="records per list figure"
    )
    parser.add_argument(
        "--api-clients", type=numbers, default="1,10,50", help="concurrent writing clients"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/3")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the plane's database (postgres: CONTROLPLANE_TEST_POSTGRES_URL names the cluster)",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's directory (database, process logs)"
    )
    parser.add_argument("--swarm", action="store_true", help="also time Docker Swarm services")
    args = parser.parse_args()
    args.only = args.only.split(",")
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def machine(engine: docker.DockerClient, database: str) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "docker": engine.version().get("Version"),
        "python": platform.python_version(),
        "database": database,
        "load_average": os.getloadavg(),
    }


def run(
    args: argparse.Namespace, engine: docker.DockerClient, plane: Plane | None, state: Path
) -> dict[str, Any]:
    results = on_plane(args, engine, plane) if plane is not None else {}
    if "api" in args.only:
        results["api"] = api_load.measure(
            args.redis,
            state / "api",
            samples=args.api_samples,
            requests=args.api_writes,
            sizes=args.api_sizes,
            concurrency=args.api_clients,
        )
        print(api_load.table(results["api"]), flush=True)
    return results


def on_plane(args: argparse.Namespace, engine: docker.DockerClient, plane: Plane) -> dict[str, Any]:
    """The scenarios that share one plane (API, reporter, agent)."""
    results: dict[str, Any] = {}
    run_id = uuid.uuid4().hex
    if "start" in args.only:
        swarm = latency.Swarm(engine, run_id) if args.swarm else None
        try:
            results["start"] = {
                net: latency.measure(
                    plane, engine, run_id=run_id, runs=args.runs, net=net, swarm=swarm
                )
                for net in args.networks.split(",")
            }
        finally:
            if swarm is not None:
                swarm.leave()  # always, even on failure
            for container in engine.containers.list(
                all=True, filters={"label": f"{LABEL}={run_id}"}
            ):
                container.remove(force=True)
        print(latency.table(results["start"]), flush=True)
    if "throughput" in args.only or "resources" in args.only:
        results.update(load(args, plane, run_id))
    if "truth" in args.only:
        results["truth"] = truth.measure(plane, engine, containers=args.truth_containers)
        print(truth.table(results["truth"]), flush=True)
    return results


def load(args: argparse.Namespace, plane: Plane, run_id: str) -> dict[str, Any]:
    """Scenario 2 (throughput), and scenario 5 (resources) sampled at idle and around it."""
    results: dict[str, Any] = {}
    # A client pool as large as the thread pool that shares it.
    engine = docker.DockerClient(max_pool_size=max(args.throughput_threads, 10))

    def loaded() -> dict[str, Any]:
        return throughput.measure(
            plane,
            engine,
            run_id=run_id,
            containers=args.throughput_containers,
            threads=args.throughput_threads,
            rounds=args.throughput_rounds,
        )

    try:
        if "resources" in args.only:
            results["resources"], results["throughput"] = resources.measure(
                plane, idle=args.idle, during=loaded
            )
        else:
            results["throughput"] = loaded()
    finally:
        for container in engine.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
            container.remove(force=True)
        engine.close()
    print(throughput.table(results["throughput"]), flush=True)
    if "resources" in results:
        print(resources.table(results["resources"]), flush=True)
    return results


def main() -> None:
    args = arguments()
    engine = docker.DockerClient()
    state = Path(tempfile.mkdtemp(prefix="bench-"))
    broker = redis.Redis.from_url(args.redis)
    broker.flushdb()  # no queued work or heartbeats of an earlier run
    plane = None
    closing = contextlib.ExitStack()  # the plane's database, dropped at the end
    try:
        if set(args.only) & set(PLANE_SCENARIOS):
            # The host network mode is a dangerous option an operator must allow, on the control
            # plane and on the node.
            allow = {"CONTROLPLANE_ALLOW_DANGEROUS": "net_host"}
            allow["CONTROLPLANE_AGENT_ALLOW_DANGEROUS"] = "net_host"
            url = closing.enter_context(bench_database(args.database, state))
            plane = Plane(args.redis, state, env={**allow, "CONTROLPLANE_DATABASE_URL": url})
            plane.ready()
        results = run(args, engine, plane, state)
        # What its containers carry besides LABEL, for whoever checks none was left behind.
        results["node_uuid"] = plane.node_uuid if plane is not None else None
    finally:
        if plane is not None:
            plane.close(engine)
        closing.close()
        broker.flushdb()
    results["machine"] = machine(engine, args.database)
    print(f"machine: {json.dumps(results['machine'])}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.keep:
        print(f"kept {state}")
    else:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
