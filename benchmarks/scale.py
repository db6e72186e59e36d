"""A simulated fleet: N nodes (1,000 by default) speaking the real node protocol to the real
broker, reporter and API, with an in-memory engine instead of Docker.

Real: a Redis server of the run's own (on a free loopback port), `controlplane reporter` and
`controlplane api` as an operator starts them, a fresh SQLite file or PostgreSQL database
migrated by `controlplane db upgrade`, nodes enrolled as `controlplane node add` enrolls them
(the first through the command, the rest through the same code in this process, since a
thousand commands would take minutes), and on the node side the agent's own code: sealed
tasks opened, claims, `run_operation`, sealed reports, heartbeats and relist pictures
(benchmarks/fakenodes.py, one process for every node). Simulated: the engine
(benchmarks/fakeengine.py: containers start at once) and how the nodes are hosted (see
fakenodes.py's docstring).

Phases, each printed as it ends:

1. heartbeats: every node Deployed, then the reporter's CPU over `--idle` seconds while the
   nodes only heartbeat, at the agent's default interval (5 s), as % of one core;
2. starts: `--containers` containers in services of `--service-size`, created and started by
   `--clients` API clients; from each service's start accepted until each container's Running
   event arrives on the events socket (per container, p50/p99), and containers per second from
   the first start sent until the last Running arrived (or `--deadline` passed: the figures
   are then of the containers Running by then, and say how many); the event lag, from the moment the
   node sent each Running report until its event arrived (same clock, same machine); the list
   (GET /api/v1/container/, a page of 25) sampled meanwhile;
3. steady: relists on (every `--relist-interval`, 15 s by default), the list sampled at that
   load, and the reporter's CPU with heartbeats and relists;
4. changes: every container exits at once on its node, each node reporting its burst in one
   batch (as the Docker events watcher's `ReportBatch` does); reporter changes applied per
   second, until the API counts every container Stopped.

Prints one JSON line per phase and a table at the end; `--json FILE` writes them all. Asserts
nothing.

    .venv/bin/python benchmarks/scale.py [--nodes 1000] [--containers 10000]
        [--database sqlite|postgres] [--service-size 100] [--clients 4] [--idle 20]
        [--relist-interval 15] [--threads 64] [--connections 8] [--api-workers 2] [--reporters 1]
        [--json FILE] [--keep] [--profile DIR]

For PostgreSQL, `CONTROLPLANE_TEST_POSTGRES_URL` names an admin URL of a cluster (scripts/
bootstrap.sh's `postgres_admin_url`); the run creates a database `cp_bench_...` there and
drops it afterwards. `--profile DIR` records the reporter and one API worker with py-spy
during the starts (flame graphs in DIR).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis
import requests
from common import (
    BIN,
    bench_database,
    cpu_seconds,
    enroll,
    free_port,
    new_database,
    percentile,
    secured,
    spawn,
    stop,
    thread_session,
    wait,
)
from simple_websocket import Client, ConnectionClosed
from sqlalchemy import select

from controlplane.db.engine import Database
from controlplane.db.enrollment import enroll as enroll_in_database
from controlplane.db.models import Node
from controlplane.keyring import Keyring

HERE = Path(__file__).resolve().parent
IMAGE = "controlplane/busybox:latest"
PAGE = 25


def main() -> None:
    args = parse_args()
    state = Path(tempfile.mkdtemp(prefix="cp-scale-"))
    figures: dict[str, Any] = {
        "config": {k: v for k, v in vars(args).items() if k not in ("json",)},
        "machine": {"cpus": os.cpu_count(), "load": os.getloadavg()},
    }
    run = Run(args, state)
    # A SIGTERM stops the run as ^C does, so its processes and database are cleaned up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        run.setup()
        figures["heartbeats"] = emit("heartbeats", run.heartbeats())
        figures["starts"] = emit("starts", run.starts())
        figures["steady"] = emit("steady", run.steady())
        figures["changes"] = emit("changes", run.changes())
    finally:
        run.close()
        if not args.keep:
            shutil.rmtree(state, ignore_errors=True)
        else:
            print(f"kept {state}", file=sys.stderr)
    table(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--containers", type=int, default=10000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--service-size", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--heartbeat-interval", type=float, default=5.0)
    parser.add_argument("--relist-interval", type=float, default=15.0)
    parser.add_argument("--list-samples", type=int, default=100)
    parser.add_argument(
        "--deadline", type=float, default=300.0, help="s to wait for the last Running"
    )
    parser.add_argument("--threads", type=int, default=64, help="simulated nodes' task threads")
    parser.add_argument("--connections", type=int, default=8, help="simulated nodes' consumers")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument(
        "--reporters", type=int, default=1, help="reporter processes (their CPU is summed)"
    )
    parser.add_argument("--json")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", help="py-spy flame graphs of reporter and API in DIR")
    return parser.parse_args()


def emit(phase: str, figures: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps({"phase": phase, **figures}), flush=True)
    return figures


def ms(values: list[float]) -> dict[str, float]:
    """p50/p99 (and n) in milliseconds of samples in seconds."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
    }


class Feed:
    """The API's events socket: when (epoch seconds) each container's Running and Stopped
    events arrived."""

    def __init__(self, url: str, authorization: str) -> None:
        self._socket = Client.connect(url, headers={"Authorization": authorization})
        self.arrived: dict[str, dict[str, float]] = {"Running": {}, "Stopped": {}}
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            while True:
                event = json.loads(self._socket.receive())
                if event.get("type") == "container" and event.get("state") in self.arrived:
                    made = event["resource_uri"].rstrip("/").rsplit("/", 1)[-1]
                    self.arrived[event["state"]].setdefault(made, time.time())
        except ConnectionClosed:
            pass

    def close(self) -> None:
        self._socket.close()


class Run:
    def __init__(self, args: argparse.Namespace, state: Path) -> None:
        self.args = args
        self.state = state
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.sim: subprocess.Popen[str] | None = None
        self.beats: subprocess.Popen[str] | None = None
        self.redis: subprocess.Popen[bytes] | None = None
        self.database_url = ""
        self.closing = contextlib.ExitStack()
        self.feed: Feed | None = None
        self.local = threading.local()
        self.profilers: list[subprocess.Popen[bytes]] = []

    # -- setting up -------------------------------------------------------------------------

    def setup(self) -> None:
        port = free_port()
        with (self.state / "redis.log").open("ab") as out:
            self.redis = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                 "--dir", str(self.state), "--save", "", "--appendonly", "no"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        broker = f"redis://127.0.0.1:{port}/0"
        wait(lambda: _pings(broker), limit=20, poll=0.05)
        self.database_url = self.closing.enter_context(
            bench_database(self.args.database, self.state)
        )
        api_port = free_port()
        self.env = secured(
            {
                **os.environ,
                "CONTROLPLANE_DATABASE_URL": self.database_url,
                "CONTROLPLANE_BROKER_URL": broker,
            }
        )
        key = new_database(self.env)
        self.authorization = f"ApiKey bench:{key}"
        started = time.perf_counter()
        tokens = [enroll(self.env, "sim-0"), *self._enroll(self.args.nodes - 1)]
        self.enroll_seconds = time.perf_counter() - started
        (self.state / "tokens").write_text("\n".join(tokens) + "\n")
        for number in range(1, self.args.reporters + 1):
            self.processes[f"reporter-{number}"] = spawn(
                ["reporter"], self.env, self.state / f"reporter-{number}.log"
            )
        self.processes["api"] = spawn(
            ["api", "--bind", f"127.0.0.1:{api_port}", "--workers", str(self.args.api_workers)],
            self.env,
            self.state / "api.log",
        )
        self.sim = self._simulator(broker, "operations")
        self.beats = self._simulator(broker, "heartbeats")
        self.base = f"http://127.0.0.1:{api_port}/api/v1/"
        wait(self._answers, limit=60, poll=0.1)
        for simulator in (self.sim, self.beats):
            ready = self._read_sim(simulator)
            assert ready.startswith("ready"), ready
        self.feed = Feed(f"ws://127.0.0.1:{api_port}/v1/events/", self.authorization)

    def _simulator(self, broker: str, role: str) -> subprocess.Popen[str]:
        """The simulated nodes (benchmarks/fakenodes.py) in the given role."""
        with (self.state / f"fakenodes-{role}.log").open("ab") as err:
            return subprocess.Popen(
                [sys.executable, str(HERE / "fakenodes.py"), "--broker", broker,
                 "--tokens", str(self.state / "tokens"), "--threads", str(self.args.threads),
                 "--connections", str(self.args.connections),
                 "--heartbeat-interval", str(self.args.heartbeat_interval),
                 "--relist-interval", str(self.args.relist_interval), "--role", role],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
            )  # fmt: skip

    def _enroll(self, count: int) -> list[str]:
        """`controlplane node add` for `count` nodes, through the code the command runs."""
        database = Database(self.env["CONTROLPLANE_DATABASE_URL"])
        keyring = Keyring(database, self.env["CONTROLPLANE_SECRET_KEY"].encode())
        tokens = []
        with database.session() as session:
            for index in range(1, count + 1):
                tokens.append(str(keyring.token(enroll_in_database(session, f"sim-{index}"))))
        database.engine.dispose()
        return tokens

    # -- the API ----------------------------------------------------------------------------

    @property
    def http(self) -> requests.Session:
        return thread_session(self.local, self.authorization)

    def _answers(self) -> bool:
        try:
            return self.http.get(self.base + "container/", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def call(self, method: str, path: str, **body: Any) -> dict[str, Any]:
        response = self.http.request(method, self.base + path, json=body or None, timeout=120)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return dict(response.json())

    def count(self, kind: str, **filters: str) -> int:
        response = self.http.get(
            self.base + kind + "/", params={**filters, "limit": "1"}, timeout=60
        )
        response.raise_for_status()
        return int(response.json()["meta"]["total_count"])

    def list_page(self, total: int) -> float:
        offset = random.randrange(0, max(1, total - PAGE)) if total > PAGE else 0
        started = time.perf_counter()
        self.http.get(
            self.base + "container/", params={"limit": str(PAGE), "offset": str(offset)}, timeout=60
        ).raise_for_status()
        return time.perf_counter() - started

    # -- the simulated nodes ----------------------------------------------------------------

    def _read_sim(self, simulator: subprocess.Popen[str]) -> str:
        assert simulator.stdout is not None
        line = simulator.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulated nodes exited; see {self.state}/fakenodes-*.log")
        return line.strip()

    def tell(self, command: str, simulator: subprocess.Popen[str] | None = None) -> str:
        """A command to the simulated nodes' operations (or to `simulator`), and its answer."""
        simulator = simulator or self.sim
        assert simulator is not None and simulator.stdin is not None
        simulator.stdin.write(command + "\n")
        simulator.stdin.flush()
        return self._read_sim(simulator).removeprefix("ok ")

    def cpu(self) -> dict[str, float]:
        pids = {name: process.pid for name, process in self.processes.items()}
        assert self.sim is not None and self.beats is not None and self.redis is not None
        pids.update(nodes=self.sim.pid, heartbeats=self.beats.pid, redis=self.redis.pid)
        seconds = {name: cpu_seconds(pid) for name, pid in pids.items()}
        seconds["reporter"] = sum(v for name, v in seconds.items() if name.startswith("reporter-"))
        return seconds

    # -- the phases -------------------------------------------------------------------------

    def heartbeats(self) -> dict[str, Any]:
        nodes = self.args.nodes
        started = time.perf_counter()
        deadline = time.monotonic() + self.args.deadline
        most = 0
        while time.monotonic() < deadline and most < nodes:
            most = max(most, self.count("node", state="Deployed"))
            time.sleep(0.5)
        deployed = time.perf_counter() - started
        time.sleep(min(self.args.heartbeat_interval, self.args.idle))  # the first round settles
        before, beats, since = self.cpu(), self.heartbeats_applied(), time.perf_counter()
        time.sleep(self.args.idle)
        after, elapsed = self.cpu(), time.perf_counter() - since
        applied = self.beats_between(beats, self.heartbeats_applied()) / elapsed
        share = {name: round(100 * (after[name] - before[name]) / elapsed, 1) for name in after}
        return {
            "nodes": nodes,
            "enroll_s": round(self.enroll_seconds, 1),
            "most_deployed": most,
            "deployed_now": self.count("node", state="Deployed"),
            "deployed_s": round(deployed, 1),
            "heartbeats_applied_per_s": round(applied, 1),
            "interval_s": self.args.heartbeat_interval,
            "heartbeats_per_s": round(nodes / self.args.heartbeat_interval, 1),
            "reporter_cpu_pct_of_core": share["reporter"],
            "cpu_pct_of_core": share,
        }

    def heartbeats_applied(self) -> dict[str, int]:
        """Each node's newest applied heartbeat, by the agent's stamp on it (`observed_ns`):
        between two readings a node had (difference / interval) of its heartbeats applied."""
        database = Database(self.database_url)
        try:
            with database.read_session() as session:
                rows = session.execute(select(Node.uuid, Node.observed_ns)).all()
        finally:
            database.engine.dispose()
        return {uuid: observed or 0 for uuid, observed in rows}

    def beats_between(self, before: dict[str, int], after: dict[str, int]) -> int:
        interval_ns = self.args.heartbeat_interval * 1e9
        return sum(
            round((after.get(uuid, 0) - observed) / interval_ns)
            for uuid, observed in before.items()
            if observed
        )

    def starts(self) -> dict[str, Any]:
        assert self.feed is not None
        size = self.args.service_size
        sizes = [size] * (self.args.containers // size)
        if self.args.containers % size:
            sizes.append(self.args.containers % size)
        accepted: dict[str, float] = {}
        listing: list[float] = []
        done = threading.Event()

        def one(index_size: tuple[int, int]) -> None:
            index, count = index_size
            made = self.call(
                "POST", "service/", image=IMAGE, name=f"s{index}", target_num_containers=count
            )
            self.call("POST", f"service/{made['uuid']}/start/")
            at = time.time()
            shown = self.call("GET", f"service/{made['uuid']}/")
            for uri in shown["containers"]:
                accepted[uri.rstrip("/").rsplit("/", 1)[-1]] = at

        def sample() -> None:
            while not done.wait(0.25):
                listing.append(self.list_page(len(accepted)))

        sampler = threading.Thread(target=sample, daemon=True)
        profiling = self._profile()
        first = time.time()
        before = self.cpu()
        sampler.start()
        with ThreadPoolExecutor(self.args.clients) as pool:
            list(pool.map(one, enumerate(sizes)))
        requests_done = time.time()
        total = len(accepted)
        running = self.feed.arrived["Running"]
        deadline = time.monotonic() + self.args.deadline
        while time.monotonic() < deadline and not all(u in running for u in accepted):
            time.sleep(0.1)
        arrived = [u for u in accepted if u in running]
        last = max((running[u] for u in arrived), default=time.time())
        done.set()
        after = self.cpu()
        self._end_profile(profiling)
        shown = self.count("container", state="Running")
        sent = self._sent()
        lag = [running[u] - sent[u] for u in arrived if u in sent]
        elapsed = last - first
        return {
            "containers": total,
            "running_by_deadline": len(arrived),
            "services": len(sizes),
            "seconds": round(elapsed, 2),
            "api_requests_s": round(requests_done - first, 2),
            "starts_per_s": round(len(arrived) / elapsed, 1),
            "running_in_api": shown,
            "start_latency": ms([running[u] - accepted[u] for u in arrived]),
            "event_lag": ms(lag),
            "list_during": ms(listing),
            "cpu_s": {name: round(after[name] - before[name], 1) for name in after},
            **self.faults(),
        }

    def faults(self) -> dict[str, Any]:
        """What went wrong beside the figures: nodes the reporter found silent (each a node
        turned Unreachable), and how late the simulator's own timers ran (a busy simulator
        heartbeats late, and its nodes turn Unreachable as a real fleet's would not)."""
        text = "".join(
            path.read_text(errors="replace") for path in self.state.glob("reporter-*.log")
        )
        late = [json.loads(self.tell("late", simulator)) for simulator in (self.sim, self.beats)]
        return {
            "nodes_turned_unreachable": text.count(" is Unreachable: no heartbeat"),
            "simulator_timers_late_max_s": {
                timer: max(one[timer] for one in late) for timer in late[0]
            },
        }

    def _sent(self) -> dict[str, float]:
        path = self.state / "sent.json"
        self.tell(f"dump {path}")
        return {k: float(v) for k, v in json.loads(path.read_text()).items()}

    def steady(self) -> dict[str, Any]:
        self.tell("relist on")
        time.sleep(min(self.args.relist_interval, self.args.idle))  # a first round of relists
        total = self.count("container")
        before, since = self.cpu(), time.perf_counter()
        listing = [self.list_page(total) for _ in range(self.args.list_samples)]
        remaining = self.args.idle - (time.perf_counter() - since)
        if remaining > 0:
            time.sleep(remaining)
        after, elapsed = self.cpu(), time.perf_counter() - since
        share = {name: round(100 * (after[name] - before[name]) / elapsed, 1) for name in after}
        return {
            "containers": total,
            "relist_interval_s": self.args.relist_interval,
            "pictures_per_s": round(self.args.nodes / self.args.relist_interval, 1),
            "list": ms(listing),
            "cpu_pct_of_core": share,
        }

    def changes(self) -> dict[str, Any]:
        assert self.feed is not None
        total = self.count("container", state="Running")
        before = self.cpu()
        started = time.time()
        changes, send_seconds = self.tell("kill").split()
        stopped = self.feed.arrived["Stopped"]
        deadline = time.monotonic() + self.args.deadline
        while time.monotonic() < deadline and self.count("container", state="Stopped") < total:
            time.sleep(0.2)
        shown = time.time()
        applied = self.count("container", state="Stopped")
        after = self.cpu()
        elapsed = shown - started
        return {
            "changes": int(changes),
            "nodes_send_s": float(send_seconds),
            "seconds": round(elapsed, 2),
            "applied_by_deadline": applied,
            "changes_per_s": round(applied / elapsed, 1),
            "stopped_events": len(stopped),
            "cpu_s": {name: round(after[name] - before[name], 1) for name in after},
            **self.faults(),
        }

    # -- profiling --------------------------------------------------------------------------

    def _profile(self) -> list[subprocess.Popen[bytes]]:
        if not self.args.profile:
            return []
        out = Path(self.args.profile)
        out.mkdir(parents=True, exist_ok=True)
        api = self.processes["api"].pid
        children = Path(f"/proc/{api}/task/{api}/children").read_text().split()
        targets = {"reporter": self.processes["reporter-1"].pid, "api-worker": int(children[0])}
        return [
            subprocess.Popen(
                [
                    str(BIN / "py-spy"),
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    "50",
                    "--format",
                    "raw",
                    "--output",
                    str(out / f"{name}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for name, pid in targets.items()
        ]

    def _end_profile(self, profilers: list[subprocess.Popen[bytes]]) -> None:
        for profiler in profilers:
            profiler.send_signal(2)  # SIGINT: py-spy writes what it recorded
            profiler.wait(60)

    # -- tearing down -----------------------------------------------------------------------

    def close(self) -> None:
        if self.feed is not None:
            self.feed.close()
        for simulator in (self.sim, self.beats):
            if simulator is None:
                continue
            try:
                self.tell("quit", simulator)
            except (OSError, RuntimeError, ValueError):
                pass
            try:
                simulator.wait(15)
            except subprocess.TimeoutExpired:
                simulator.kill()
                simulator.wait()
        for process in self.processes.values():
            stop(process)
        if self.redis is not None:
            stop(self.redis)
        self.closing.close()


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.ConnectionError:
        return False


def table(figures: dict[str, Any]) -> None:
    config = figures["config"]
    beats, starts, steady, changes = (
        figures["heartbeats"], figures["starts"], figures["steady"], figures["changes"],
    )  # fmt: skip
    print(
        f"\nscale: {config['nodes']} simulated nodes, {starts['containers']} containers "
        f"({starts['running_by_deadline']} Running by the deadline), "
        f"{config['database']}, heartbeat every {beats['interval_s']} s, "
        f"relist every {steady['relist_interval_s']} s"
    )
    rows = [
        ("container starts per second", f"{starts['starts_per_s']}/s", "≥ 1500/s"),
        ("start latency p50 / p99", _pair(starts["start_latency"]), ""),
        ("reporter changes per second", f"{changes['changes_per_s']}/s", "≥ 5000/s"),
        ("reporter CPU, heartbeats only", f"{beats['reporter_cpu_pct_of_core']} % of a core",
         "≤ 10 %"),
        ("heartbeats applied / sent per second",
         f"{beats['heartbeats_applied_per_s']} / {beats['heartbeats_per_s']}", ""),
        ("nodes Deployed (most seen / at the end)",
         f"{beats['most_deployed']} / {beats['deployed_now']}", ""),
        ("reporter CPU, heartbeats + relists",
         f"{steady['cpu_pct_of_core']['reporter']} % of a core", ""),
        ("event lag p50 / p99", _pair(starts["event_lag"]), "p99 ≤ 250 ms"),
        ("list page p50 / p99, during starts", _pair(starts["list_during"]), ""),
        ("list page p50 / p99, steady", _pair(steady["list"]), ""),
    ]  # fmt: skip
    for name, value, target in rows:
        print(f"  {name:38} {value:>24}   {target}")


def _pair(figures: dict[str, float]) -> str:
    if not figures.get("n"):
        return "-"
    return f"{figures['p50_ms']} / {figures['p99_ms']} ms"


if __name__ == "__main__":
    main()
