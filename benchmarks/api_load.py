"""Scenario 4: API read/write latency and throughput, on a database of its own.

Runs the API alone (`controlplane api`, gunicorn with its shipped worker and thread counts) on a
fresh SQLite file, with a node recorded as Deployed and a user `bench` who owns every record.
No agent and no reporter run: a write is answered once its record and its Celery message are
written, and that answer is what is timed. The node's queue is left to the run's Redis database,
which `run.py` flushes afterwards.

- list: `GET /api/v1/container/` (a page of 25, the default) with no filter and with each of
  the filters in FILTERS, one request at a time, after the database was filled to each of SIZES
  container records (each with its create Action; inserted directly in bulk, not through the
  API). The records are spread over the states as in MIX, a plane's history: records stay
  after their containers are terminated, so most are Terminated and a tenth are live (all on
  the one node, all owned by the caller, so the unfiltered list counts every record), and over
  NAMES names.
- create: `POST /api/v1/container/` by 1, 10 and 50 concurrent clients (each keeps its own
  keep-alive connection and sends its next request as soon as the last is answered), on the
  full database;
- action: `POST /api/v1/container/<uuid>/start/` on the containers those creates made, at the
  same concurrency;
- req/s: requests answered per second of wall time at each concurrency;
- cpu ms: the API's CPU time per request (all its gunicorn processes, read from /proc), which
  other load on a shared machine changes far less than it changes latency.

Latency is from the request's first byte sent to its answer's last byte read, by a small
asyncio HTTP/1.1 client in this process (lighter than `requests` on a 2-core machine where
clients and server share the CPU). Nothing is asserted; a request that does not answer 2xx is
counted as an error and shown.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import (
    IMAGE,
    LIMIT,
    cpu_seconds,
    deployed_node,
    free_port,
    new_database,
    secured,
    spawn,
    stop,
    summary,
    wait,
)
from sqlalchemy import func, insert, select

from controlplane.db import users
from controlplane.db.engine import Database, utcnow
from controlplane.db.models import ActionRecord, Container

SIZES = (1_000, 10_000, 100_000)
CONCURRENCY = (1, 10, 50)
# Of every 100 records: most long gone, a few running or stopped, one never started.
MIX = (("Terminated", 90), ("Running", 6), ("Stopped", 3), ("Init", 1))
NAMES = 500
BASE = "/api/v1/container/"
CHUNK = 10_000


@dataclass
class Answer:
    status: int
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection to the API; just enough client for its answers
    (always with Content-Length)."""

    def __init__(self, port: int, authorization: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1:{port}\r\nAuthorization: {authorization}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        async with asyncio.timeout(LIMIT):
            return await self._request(method, path, body)

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        reused = self.reader is not None
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        payload = json.dumps(body).encode() if body is not None else b""
        extra = "Content-Type: application/json\r\n" if body is not None else ""
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\n{self.head}{extra}Content-Length: {len(payload)}\r\n\r\n"
            .encode() + payload
        )  # fmt: skip
        try:
            first = await self.reader.readline()
        except ConnectionResetError:
            first = b""
        if not first and reused:  # the server closed the idle connection (gunicorn keepalive)
            self.close()
            return await self._request(method, path, body)
        status = int(first.split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        answer = Answer(status, await self.reader.readexactly(length))
        if close:
            self.close()
        return answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Load:
    """What one closed-loop run measured."""

    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0

    def figures(self) -> dict[str, Any]:
        return {
            **summary(self.seconds),
            "rps": len(self.seconds) / self.wall,
            "server_cpu_ms": self.cpu / len(self.seconds) * 1000,
            "errors": len(self.errors),
            "first_error": self.errors[0] if self.errors else None,
        }


async def closed_loop(
    connections: list[Connection],
    requests: list[tuple[str, str, dict[str, Any] | None]],
    server: int,
) -> Load:
    """Send `requests` over `connections`, each connection sending its next request as soon as
    its last one is answered, until none are left; `server` is the API's process id, whose
    CPU time (with its workers') is read before and after."""
    load = Load()
    pending = iter(requests)

    async def client(connection: Connection) -> None:
        for method, path, body in pending:
            started = time.perf_counter()
            answer = await connection.request(method, path, body)
            load.seconds.append(time.perf_counter() - started)
            if answer.status >= 300:
                load.errors.append(f"{answer.status} {answer.body[:200]!r}")
            else:
                load.bodies.append(answer.body)

    cpu, started = cpu_seconds(server), time.perf_counter()
    await asyncio.gather(*(client(connection) for connection in connections))
    load.wall = time.perf_counter() - started
    load.cpu = cpu_seconds(server) - cpu
    return load


class ApiPlane:
    """The API alone on a fresh SQLite file in `state`, a Deployed node and the user `bench`."""

    def __init__(
        self,
        broker_url: str,
        state: Path,
        *,
        api_options: tuple[str, ...] = (),
        settings: dict[str, str] | None = None,
    ) -> None:
        state.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.state = state
        self.env = secured(
            {
                **os.environ,
                "CONTROLPLANE_DATABASE_URL": f"sqlite:///{state}/api.db",
                "CONTROLPLANE_BROKER_URL": broker_url,
            }
        )
        self.env.update(settings or {})
        self.authorization = f"ApiKey bench:{new_database(self.env)}"
        self.database = Database(self.env["CONTROLPLANE_DATABASE_URL"])
        with self.database.session() as session:
            self.owner_id = users.ensure_user(session, "bench")[0].id
            # Deployed for as long as the run lasts: no reporter runs to sweep its lease.
            node = deployed_node(session, "bench-node")
            self.node_uuid, self.node_id = node.uuid, node.id
        self.api = spawn(
            ["api", "--bind", f"127.0.0.1:{self.port}", *api_options], self.env, state / "api.log"
        )
        wait(self._answers, poll=0.1)

    def _answers(self) -> bool:
        async def probe() -> int:
            connection = Connection(self.port, self.authorization)
            try:
                return (await connection.request("GET", BASE)).status
            finally:
                connection.close()

        try:
            return asyncio.run(probe()) == 200
        except OSError:
            return False

    def records(self) -> int:
        with self.database.session() as session:
            return session.scalar(select(func.count()).select_from(Container)) or 0

    def fill(self, size: int) -> None:
        """Insert container records (and their create Actions) until there are `size`."""
        pattern = [state for state, share in MIX for _ in range(share)]
        random.Random(0).shuffle(pattern)
        with self.database.session() as session:
            first = (session.scalar(select(func.max(Container.id))) or 0) + 1
            first_action = (session.scalar(select(func.max(ActionRecord.id))) or 0) + 1
        now = utcnow()
        count = size - self.records()
        for chunk in range(0, count, CHUNK):
            containers, actions = [], []
            for number in range(first + chunk, first + min(chunk + CHUNK, count)):
                ident = str(uuid.uuid4())
                created = now - timedelta(seconds=size - number)
                name = f"app-{number % NAMES}"
                containers.append(
                    {
                        "id": number,
                        "uuid": ident,
                        "owner_id": self.owner_id,
                        "node_id": self.node_id,
                        "name": name,
                        "unique_name": f"{name}-{ident[:8]}-{number}",
                        "image_name": IMAGE,
                        "state": pattern[number % len(pattern)],
                        "run_command": "sh -c 'exec sleep 3600'",
                        "created_at": created,
                    }
                )
                actions.append(
                    {
                        "id": first_action + number - first,
                        "uuid": str(uuid.uuid4()),
                        "owner_id": self.owner_id,
                        "container_id": number,
                        "name": "Container Create",
                        "operation": "create",
                        "method": "POST",
                        "path": BASE,
                        "state": "Success",
                        "start_date": created,
                        "end_date": created,
                    }
                )
            with self.database.engine.begin() as connection:
                connection.execute(insert(Container), containers)
                connection.execute(insert(ActionRecord), actions)

    def sample(self) -> tuple[str, str]:
        """A name and a uuid of the records, for the filters."""
        with self.database.session() as session:
            row = session.execute(
                select(Container.name, Container.uuid).order_by(Container.id.desc()).limit(1)
            ).one()
        return str(row[0]), str(row[1])

    def close(self) -> None:
        stop(self.api)
        self.database.dispose()


def filters(plane: ApiPlane) -> dict[str, str]:
    name, ident = plane.sample()
    return {
        "none": "",
        "state=Running": "state=Running",
        "state=Init": "state=Init",
        "name": f"name={name}",
        "uuid__startswith": f"uuid__startswith={ident[:8]}",
        "node": f"node={BASE.replace('container', 'node')}{plane.node_uuid}/",
    }


async def measure_lists(plane: ApiPlane, samples: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    connection = Connection(plane.port, plane.authorization)
    results: dict[str, Any] = {}
    pid = plane.api.pid
    try:
        for size in sizes:
            plane.fill(size)  # blocking, with nothing else to run meanwhile
            results[str(size)] = {}
            for label, query in filters(plane).items():
                path = f"{BASE}?{query}" if query else BASE
                await closed_loop([connection], [("GET", path, None)] * 3, pid)  # warm-up
                load = await closed_loop([connection], [("GET", path, None)] * samples, pid)
                results[str(size)][label] = load.figures()
    finally:
        connection.close()
    return results


def create_body() -> dict[str, Any]:
    return {"image_name": IMAGE, "name": f"b{uuid.uuid4().hex[:8]}", "run_command": "sleep 3600"}


async def measure_writes(plane: ApiPlane, clients: int, requests: int) -> dict[str, Any]:
    connections = [Connection(plane.port, plane.authorization) for _ in range(clients)]
    pid = plane.api.pid
    try:
        # Warm-up: every connection opened and every worker's code paths run once.
        await closed_loop(connections, [("POST", BASE, create_body())] * clients, pid)
        creates = await closed_loop(connections, [("POST", BASE, create_body())] * requests, pid)
        made = [json.loads(body)["uuid"] for body in creates.bodies]
        starts = await closed_loop(
            connections, [("POST", f"{BASE}{ident}/start/", None) for ident in made], pid
        )
    finally:
        for connection in connections:
            connection.close()
    return {"create": creates.figures(), "action": starts.figures()}


def measure(
    broker_url: str,
    state: Path,
    *,
    samples: int,
    requests: int,
    sizes: tuple[int, ...] = SIZES,
    concurrency: tuple[int, ...] = CONCURRENCY,
) -> dict[str, Any]:
    """List latency per database size and filter, then create and action latency and
    throughput per concurrency; `requests` is the least number of writes of each kind per
    concurrency (at least 10 per client)."""
    plane = ApiPlane(broker_url, state)
    try:
        lists = asyncio.run(measure_lists(plane, samples, sizes))
        writes = {
            str(clients): asyncio.run(measure_writes(plane, clients, max(requests, 10 * clients)))
            for clients in concurrency
        }
        return {"list": lists, "write": writes, "records": plane.records()}
    finally:
        plane.close()


def _errors(figures: dict[str, Any]) -> str:
    return f"  {figures['errors']} errors: {figures['first_error']}" if figures["errors"] else ""


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{'list (page of 25)':<22} {'records':>8} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu ms':>7}"
    ]
    for size, by_filter in results["list"].items():
        for label, figures in by_filter.items():
            lines.append(
                f"{'  ' + label:<22} {int(size):>8} {figures['n']:>5} "
                f"{figures['median_ms']:>8.1f} {figures['p99_ms']:>8.1f} "
                f"{figures['server_cpu_ms']:>7.1f}" + _errors(figures)
            )
    lines.append(
        f"{'write':<14} {'clients':>7} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'req/s':>7} {'cpu ms':>7}"
    )
    for clients, kinds in results["write"].items():
        for kind, figures in kinds.items():
            lines.append(
                f"{'  ' + kind:<14} {int(clients):>7} {figures['n']:>5} "
                f"{figures['median_ms']:>8.1f} {figures['p99_ms']:>8.1f} "
                f"{figures['max_ms']:>8.1f} {figures['rps']:>7.1f} "
                f"{figures['server_cpu_ms']:>7.1f}" + _errors(figures)
            )
    lines.append(
        "cpu ms: the API's CPU time (all its gunicorn processes) per request. Targets: list p50 "
        f"<= 20 ms at 100k records; writes p99 <= 100 ms at 50 clients ({results['records']} "
        "records at the end)"
    )
    return "\n".join(lines)
