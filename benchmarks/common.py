"""What every benchmark shares: the plane it runs (API, reporter, agent as real processes on a
fresh SQLite file), waiting by polling, and the figures it prints (median, p90, p99).

Benchmarks run the installed `controlplane` command of this venv, exactly as an operator
would, so what they measure is what ships.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import requests
from simple_websocket import Client, ConnectionClosed
from sqlalchemy.orm import Session

from controlplane.core.messages import NodeReport
from controlplane.core.signing import NodeToken
from controlplane.db import enrollment, nodes
from controlplane.db.models import Node

BIN = Path(sys.executable).parent
IMAGE = "controlplane/busybox:latest"
COMMAND = "sh -c 'exec sleep 3600'"
LABEL = "io.controlplane.benchmark"
POLL = 0.002
LIMIT = 60.0


def wait(condition: Callable[[], Any], limit: float = LIMIT, poll: float = POLL) -> Any:
    """The first true value of `condition()`, polled every `poll` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise RuntimeError(f"gave up after {limit} s")


def raw_container(
    engine: docker.DockerClient, *, prefix: str, labels: dict[str, str], net: str
) -> Any:
    """A container made and started straight through docker-py: the raw side of every
    comparison, with the image, command and `init` the plane's containers have."""
    container = engine.containers.create(
        IMAGE,
        COMMAND,
        name=f"{prefix}-{uuid.uuid4().hex[:8]}",
        init=True,
        labels=labels,
        network_mode=net,
    )
    container.start()
    return container


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def docker_time(value: str) -> float:
    """Seconds since the epoch from Docker's nanosecond RFC 3339 time."""
    main, _, rest = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(main + "+00:00").timestamp() + float("0." + (rest or "0"))


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: with fewer than 100 values p99 is the slowest one."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    """Figures in milliseconds from samples in seconds."""
    return {
        "n": len(values),
        "median_ms": statistics.median(values) * 1000,
        "p90_ms": percentile(values, 0.90) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
        "max_ms": max(values) * 1000,
    }


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children (gunicorn's workers),
    from /proc: a figure that, unlike latency, other load on the machine hardly changes."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    ticks = 0
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime and stime, fields 14 and 15
    return ticks / os.sysconf("SC_CLK_TCK")


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`controlplane COMMAND...` with its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / "controlplane"), *command], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def new_database(env: dict[str, str], username: str = "bench") -> str:
    """Bring the database of `env` to the newest schema and create `username`; its API key."""
    subprocess.run(
        [str(BIN / "controlplane"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    return create_user(env, username)


def create_user(env: dict[str, str], username: str) -> str:
    """`controlplane user create USERNAME` on the database of `env`: the user's API key."""
    return subprocess.run(
        [str(BIN / "controlplane"), "user", "create", username],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def secured(env: dict[str, str]) -> dict[str, str]:
    """`env` with a fresh secret key, which the API, the reporter and `node add` need, and the
    per-user caps on creates lifted: a benchmark measures the control plane, not its quotas."""
    return {
        **env,
        "CONTROLPLANE_SECRET_KEY": secrets.token_urlsafe(32),
        "CONTROLPLANE_MAX_CONTAINERS_PER_USER": "1000000",
        "CONTROLPLANE_CREATES_PER_MINUTE": "1000000",
        "CONTROLPLANE_MAX_STREAMS_PER_USER": "100000",
    }


def enroll(env: dict[str, str], name: str) -> str:
    """`controlplane node add NAME` on the database of `env`: the token its agent starts with."""
    cli = str(BIN / "controlplane")
    return subprocess.run(
        [cli, "node", "add", name], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def deployed_node(session: Session, name: str) -> Node:
    """A node enrolled and heard from, straight in the database, for a benchmark that runs no
    agent; it stays Deployed for as long as no reporter sweeps its lease."""
    node = enrollment.enroll(session, name)
    nodes.apply_node_report(
        session,
        NodeReport(
            node_uuid=node.uuid, docker_version="bench", cpu=2, memory_mb=2048,
            observed_ns=time.time_ns(),
        ),
    )  # fmt: skip
    return node


def thread_session(local: threading.local, authorization: str) -> requests.Session:
    """This thread's HTTP session with `authorization`, kept in `local` (a `requests.Session`
    is not thread-safe)."""
    session: requests.Session | None = getattr(local, "http", None)
    if session is None:
        session = local.http = requests.Session()
        session.headers["Authorization"] = authorization
    return session


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class StateFeed:
    """The API's Tutum events socket (`/v1/events/`), followed in a thread: when each container
    was last reported in each state.

    A benchmark waits on this instead of polling: a GET every few milliseconds costs the API a
    few milliseconds of CPU each, which on 2 cores is taken from the Docker Engine doing the very
    work being timed. The event is published after the change's commit, so once it has arrived
    the API shows the state; its arrival time is, if anything, later than the commit.
    """

    def __init__(self, url: str, authorization: str) -> None:
        self._socket = Client.connect(url, headers={"Authorization": authorization})
        self._seen: dict[tuple[str, str], float] = {}
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._follow, name="state-feed", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            while True:
                event = json.loads(self._socket.receive())
                if event.get("type") != "container":
                    continue
                made = event["resource_uri"].rstrip("/").rsplit("/", 1)[-1]
                with self._changed:
                    self._seen[(made, event["state"])] = time.perf_counter()
                    self._changed.notify_all()
        except ConnectionClosed:
            pass

    def arrival(self, made: str, state: str, *, limit: float) -> float | None:
        """When the event of `made` reaching `state` arrived (perf_counter), waiting up to
        `limit` seconds for it."""
        with self._changed:
            self._changed.wait_for(lambda: (made, state) in self._seen, timeout=limit)
            return self._seen.get((made, state))

    def close(self) -> None:
        self._socket.close()


class Plane:
    """The API, the reporter and one agent for the local Docker Engine, on a fresh SQLite file
    in `state` and the Redis database `broker_url`, and an API client for them.

    `processes` names each process by its role, so a benchmark can read their resource use.
    Its client methods may be called from several threads at once: each thread gets its own
    HTTP session (a `requests.Session` is not thread-safe).
    """

    def __init__(self, broker_url: str, state: Path, *, env: dict[str, str] | None = None) -> None:
        self.state = state
        port = free_port()
        self.env = secured(
            {
                **os.environ,
                "CONTROLPLANE_DATABASE_URL": f"sqlite:///{state}/cp.db",
                "CONTROLPLANE_BROKER_URL": broker_url,
                "CONTROLPLANE_AGENT_BROKER_URL": broker_url,
                **(env or {}),
            }
        )
        key = new_database(self.env)
        token = enroll(self.env, "bench-node")
        self.node_uuid = NodeToken.parse(token).node_uuid
        self.env["CONTROLPLANE_AGENT_TOKEN"] = token
        self.processes = {
            "reporter": spawn(["reporter"], self.env, state / "reporter.log"),
            "agent": spawn(["agent"], self.env, state / "agent.log"),
            "api": spawn(["api", "--bind", f"127.0.0.1:{port}"], self.env, state / "api.log"),
        }
        self.authorization = f"ApiKey bench:{key}"
        self._local = threading.local()
        self.base = f"http://127.0.0.1:{port}/api/v1/container/"
        self.events_url = f"ws://127.0.0.1:{port}/v1/events/"
        self.feed: StateFeed | None = None

    @property
    def http(self) -> requests.Session:
        """This thread's API session."""
        return thread_session(self._local, self.authorization)

    def ready(self) -> None:
        """Wait for the API, then warm up with one container: the create is refused until the
        agent's node is Deployed."""
        wait(self._answers)
        self.feed = StateFeed(self.events_url, self.authorization)
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

    def create(self, **fields: Any) -> str | None:
        """A new container's uuid, or None if the API refused it (its node not Deployed yet)."""
        response = self.http.post(
            self.base,
            json={
                "image_name": IMAGE,
                "name": f"b{uuid.uuid4().hex[:8]}",
                "run_command": COMMAND,
                # Pinned to this run's agent: heartbeats an earlier run left queued on the same
                # Redis database register its (gone) node too, Deployed until its lease ends.
                "node": self.node_uuid,
                **fields,
            },
            timeout=10,
        )
        if response.status_code == 403:  # an option this plane does not allow: never ready
            raise RuntimeError(f"create answered 403: {response.text}")
        return str(response.json()["uuid"]) if response.status_code == 201 else None

    def count(self, **filters: str) -> int:
        """How many containers the list shows with `filters`, read from one page of one
        (its `total_count`), so polling a whole fleet costs one small request."""
        response = self.http.get(self.base, params={**filters, "limit": "1"}, timeout=10)
        response.raise_for_status()
        return int(response.json()["meta"]["total_count"])

    def wait_state(self, made: str, state: str) -> float:
        """When (perf_counter) the API showed `made` in `state`: the arrival of its event, then
        confirmed by a GET. Without the event (events are not guaranteed to every socket) the
        GET is repeated every 0.1 s instead, and the time is that of the GET that saw it."""
        assert self.feed is not None, "ready() opens the events socket"
        deadline = time.monotonic() + LIMIT
        while time.monotonic() < deadline:
            arrived = self.feed.arrival(made, state, limit=0.1)
            if self.state_of(made) == state:
                return arrived or time.perf_counter()
        raise RuntimeError(f"container {made} not {state} after {LIMIT} s")

    def action(self, made: str, verb: str) -> None:
        try:
            if verb == "terminate":
                response = self.http.delete(f"{self.base}{made}/", timeout=10)
            else:
                response = self.http.post(f"{self.base}{made}/{verb}/", timeout=10)
        except requests.Timeout:
            # Say which request went unanswered: the API log has no line for a request the
            # server lost, and the client's traceback names only the host.
            raise RuntimeError(f"{verb} of container {made}: no answer in 10 s") from None
        if response.status_code >= 300:
            raise RuntimeError(f"{verb} answered {response.status_code}: {response.text}")

    def start(self, made: str) -> float:
        """Seconds from POST start until the API shows Running."""
        started = time.perf_counter()
        self.action(made, "start")
        return self.wait_state(made, "Running") - started

    def remove(self, made: str) -> float:
        """Seconds from DELETE until the API shows Terminated."""
        started = time.perf_counter()
        self.action(made, "terminate")
        return self.wait_state(made, "Terminated") - started

    def docker_container(self, engine: docker.DockerClient, made: str) -> Any:
        [container] = engine.containers.list(
            all=True, filters={"label": f"io.controlplane.container_uuid={made}"}
        )
        return container

    def close(self, engine: docker.DockerClient) -> None:
        """Stop the processes, then remove every container left on this run's node."""
        if self.feed is not None:
            self.feed.close()
        for process in self.processes.values():
            stop(process)
        for container in engine.containers.list(
            all=True, filters={"label": f"io.controlplane.node_uuid={self.node_uuid}"}
        ):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:  # the agent's own removal finished meanwhile
                pass


@contextlib.contextmanager
def bench_database(kind: str, state: Path) -> Iterator[str]:
    """A fresh database for a run, its URL: a SQLite file in `state`, or (`kind` "postgres") a
    database `cp_bench_...` made on the cluster `CONTROLPLANE_TEST_POSTGRES_URL` names (scripts/
    bootstrap.sh's `postgres_admin_url`) and dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{state}/cp.db"
        return
    from sqlalchemy.engine import make_url

    admin = os.environ.get("CONTROLPLANE_TEST_POSTGRES_URL")
    if not admin:
        raise SystemExit("--database postgres needs CONTROLPLANE_TEST_POSTGRES_URL")
    url = make_url(admin)
    name = f"cp_bench_{uuid.uuid4().hex[:12]}"
    with _postgres(url) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with _postgres(url) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _postgres(url: Any) -> Any:
    import psycopg

    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password,
        dbname=url.database, autocommit=True,
    )  # fmt: skip
