"""Scenario 2: throughput, many containers at once, against raw docker-py with a thread pool.

Each round runs CONTAINERS containers through three phases on each side, one side after the
other (the side that goes first alternates from round to round, so that load drift hits both
alike), and times every phase from its first request to the moment the last container is seen
in the phase's end state:

- start: create and start every container, THREADS client requests at a time, until all are
  running. Ours: `POST /api/v1/container/` then `POST .../start/` per container, until the
  list shows all of them Running; raw: docker-py `containers.create(...)` then `start()`, until
  Docker lists all of them running;
- stop: stop every container until all are stopped (ours: `POST .../stop/` until the list shows
  them Stopped; raw: `stop()` until Docker lists them exited);
- terminate: remove every container until none is left (ours: `DELETE` until the list shows them
  Terminated; raw: `remove(v=True)` until Docker lists none).

Completion is polled every POLL_S seconds on both sides with one request per poll, never one per
container: ours reads the `total_count` of the list filtered by the round's container name and
the state, raw lists the round's containers by label and status. Both sides use the same image,
command (`sh -c 'exec sleep 3600'`), `init` and network mode as the start scenario
(`latency.py`), and the same number of client threads (the raw docker-py client gets a
connection pool that large). Figures are containers per second (CONTAINERS / seconds) per phase
and side, over all rounds, and the ratio us/raw (1.0 = as fast as raw Docker).

Each phase also counts the CPU time it cost, per container, in each process that took part
(from /proc, which other load on the machine hardly changes): on our side the API (all its
gunicorn workers), the reporter and the agent; on both the Engine (dockerd and its containerd;
the containers' shims are not its children and are left out) and the client (this process: the
HTTP or docker-py calls and the polls). It says how much of a phase is our own work, and so
what rate two cores could reach at all.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
from common import LABEL, Plane, cpu_seconds, raw_container, wait

PHASES = ("start", "stop", "terminate")
SIDES = ("us", "raw")
POLL_S = 0.1
LIMIT_S = 600.0
ENGINE_PIDFILE = Path("/var/run/docker.pid")  # dockerd's own default, the benchmark's Engine
GROUPS = ("api", "reporter", "agent", "engine", "client")

Meter = Callable[[], dict[str, float]]  # CPU seconds so far, by process group
Phases = dict[str, dict[str, Any]]  # "seconds": {phase: s}, "cpu": {phase: {group: s}}


def _each(threads: int, work: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """`work` over `items`, `threads` at a time; the first failure is raised."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, items))


def meter(processes: dict[str, int]) -> Meter:
    """CPU seconds so far of each named process (with its children), of the Engine when its
    pidfile names it, and of this process."""
    engine = int(ENGINE_PIDFILE.read_text()) if ENGINE_PIDFILE.exists() else None

    def read() -> dict[str, float]:
        used = {name: cpu_seconds(pid) for name, pid in processes.items()}
        if engine is not None:
            used["engine"] = cpu_seconds(engine)
        return {**used, "client": time.process_time()}

    return read


def _timed(
    run: Callable[[], Any], done: Callable[[], bool], cpu: Meter, phase: str, spent: Phases
) -> None:
    """Time `run` until `done`, into `spent`: its seconds, and the CPU seconds it cost each
    process group."""
    before = cpu()
    started = time.perf_counter()
    run()
    wait(done, limit=LIMIT_S, poll=POLL_S)
    spent["seconds"][phase] = time.perf_counter() - started
    after = cpu()
    spent["cpu"][phase] = {group: after[group] - before[group] for group in after}


def _phases() -> Phases:
    return {"seconds": {}, "cpu": {}}


def ours(plane: Plane, *, containers: int, threads: int, net: str) -> Phases:
    """Seconds and CPU seconds per phase for CONTAINERS containers through the API."""
    name = f"tput{uuid.uuid4().hex[:8]}"  # the round's containers share it: one list filter

    def shown(state: str) -> Callable[[], bool]:
        return lambda: plane.count(name=name, state=state) == containers

    def create_and_start(_: int) -> str:
        made = str(wait(lambda: plane.create(name=name, net=net)))
        plane.action(made, "start")
        return made

    cpu = meter({name: process.pid for name, process in plane.processes.items()})
    made: list[str] = []
    spent = _phases()
    _timed(lambda: made.extend(_each(threads, create_and_start, range(containers))),
           shown("Running"), cpu, "start", spent)  # fmt: skip
    _timed(lambda: _each(threads, lambda m: plane.action(m, "stop"), made),
           shown("Stopped"), cpu, "stop", spent)  # fmt: skip
    _timed(lambda: _each(threads, lambda m: plane.action(m, "terminate"), made),
           shown("Terminated"), cpu, "terminate", spent)  # fmt: skip
    return spent


def raw(
    engine: docker.DockerClient, *, run_id: str, containers: int, threads: int, net: str
) -> Phases:
    """Seconds and CPU seconds per phase for CONTAINERS containers through docker-py;
    `engine`'s connection pool should hold THREADS connections."""
    round_label = f"{LABEL}.round={uuid.uuid4().hex[:8]}"  # this round's, apart from the run's

    def listed(count: int, status: str | None = None) -> Callable[[], bool]:
        filters = {"label": round_label, **({"status": status} if status else {})}
        return lambda: len(engine.api.containers(all=True, quiet=True, filters=filters)) == count

    def create_and_start(_: int) -> Any:
        labels = {LABEL: run_id, LABEL + ".round": round_label.partition("=")[2]}
        return raw_container(engine, prefix="bench-tput", labels=labels, net=net)

    cpu = meter({})
    made: list[Any] = []
    spent = _phases()
    _timed(lambda: made.extend(_each(threads, create_and_start, range(containers))),
           listed(containers, "running"), cpu, "start", spent)  # fmt: skip
    _timed(lambda: _each(threads, lambda c: c.stop(timeout=10), made),
           listed(containers, "exited"), cpu, "stop", spent)  # fmt: skip
    _timed(lambda: _each(threads, lambda c: c.remove(v=True), made),
           listed(0), cpu, "terminate", spent)  # fmt: skip
    return spent


def measure(
    plane: Plane,
    engine: docker.DockerClient,
    *,
    run_id: str,
    containers: int,
    threads: int,
    rounds: int,
    net: str = "bridge",
) -> dict[str, Any]:
    """ROUNDS rounds of CONTAINERS containers per side, the first side alternating: containers
    per second per phase and side over all rounds, the ratio us/raw, CPU milliseconds per
    container per phase, side and process group, and every round's seconds. Raw containers
    carry the label `LABEL=run_id`, for the caller's cleanup."""
    seconds: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    cpu: dict[str, list[dict[str, dict[str, float]]]] = {side: [] for side in SIDES}
    runs = {
        "us": lambda: ours(plane, containers=containers, threads=threads, net=net),
        "raw": lambda: raw(engine, run_id=run_id, containers=containers, threads=threads, net=net),
    }
    for number in range(rounds):
        for side in SIDES if number % 2 == 0 else SIDES[::-1]:
            spent = runs[side]()
            seconds[side].append({**spent["seconds"], "cycle": sum(spent["seconds"].values())})
            cpu[side].append(spent["cpu"])
    made = containers * rounds
    rates = {
        side: {
            phase: made / sum(one[phase] for one in seconds[side]) for phase in (*PHASES, "cycle")
        }
        for side in SIDES
    }
    return {
        "containers": containers,
        "threads": threads,
        "rounds": rounds,
        "net": net,
        "per_s": rates,
        "ratio": {phase: rates["us"][phase] / rates["raw"][phase] for phase in rates["us"]},
        "cpu_ms_per_container": {
            side: {
                phase: {
                    group: 1000 * sum(one[phase][group] for one in cpu[side]) / made
                    for group in cpu[side][0][phase]
                }
                for phase in PHASES
            }
            for side in SIDES
        },
        "samples_s": seconds,
    }


def table(results: dict[str, Any]) -> str:
    rates, ratio = results["per_s"], results["ratio"]
    lines = [
        f"throughput: {results['containers']} containers x {results['rounds']} rounds, "
        f"{results['threads']} client threads, net {results['net']}",
        f"{'phase':<10} {'us /s':>8} {'raw /s':>8} {'us/raw':>8}",
    ]
    for phase in rates["us"]:
        lines.append(
            f"{phase:<10} {rates['us'][phase]:>8.2f} {rates['raw'][phase]:>8.2f} "
            f"{ratio[phase]:>7.0%}"
        )
    lines.append("containers per second (containers / seconds, all rounds); cycle: all phases")
    lines.append(f"{'CPU ms/container':<16}" + "".join(f"{g:>9}" for g in (*GROUPS, "total")))
    for phase in PHASES:
        for side in SIDES:
            used = results["cpu_ms_per_container"][side][phase]
            cells = "".join(f"{used[g]:>9.1f}" if g in used else f"{'-':>9}" for g in GROUPS)
            lines.append(f"{phase + ' ' + side:<16}{cells}{sum(used.values()):>9.1f}")
    return "\n".join(lines)
