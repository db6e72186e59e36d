"""REST latency while slow clients hold connections open, for three ways of serving the API.

    .venv/bin/python benchmarks/slowloris.py [REQUESTS]      (default 40)

Runs one API process (one worker of 100 threads, `controlplane api`'s thread count) on a fresh
SQLite file with a user `bench`, served
- `gthread`: by gunicorn's stock gthread worker
  (`gunicorn -k gthread 'controlplane.app:create_app()'`),
- `preread`: by `controlplane api` (controlplane.httpserver: requests are read in the poller),
- `nginx`: by `controlplane api` behind the shipped nginx front (scripts/nginx-front.sh).

For each, with 0 and then 250 slow sockets open (each sent half a request line, then nothing),
it times REQUESTS authenticated `GET /api/v1/container/`, one at a time, each on a new
connection and given TIMEOUT seconds, and prints their median and p99 (of the answered ones), how
many failed or timed out, and how many of the slow sockets the server had closed by the end (the
API's and nginx's read deadlines are 10 s). Asserts nothing. The broker is never reached: a list
needs only the database.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from common import BIN, free_port, new_database, secured, spawn, stop, summary, wait

ROOT = Path(__file__).resolve().parents[1]
SLOW_SOCKETS = (0, 250)
TIMEOUT = 1.0
HALF_REQUEST_LINE = b"GET /api/v1/no"


@contextlib.contextmanager
def served(kind: str, env: dict[str, str], state: Path) -> Iterator[str]:
    """The API served the `kind` way; its base URL once it answers."""
    port = free_port()
    log = state / f"{kind}.log"
    processes: list[subprocess.Popen[bytes]] = []
    if kind == "gthread":
        with log.open("ab") as out:
            processes.append(
                subprocess.Popen(
                    [str(BIN / "gunicorn"), "-k", "gthread", "-w", "1", "--threads", "100",
                     "-b", f"127.0.0.1:{port}", "controlplane.app:create_app()"],
                    env=env, stdout=out, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
    else:
        bind = ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "100"]
        processes.append(spawn(["api", *bind], env, log))
    base_url = f"http://127.0.0.1:{port}"
    if kind == "nginx":
        wait(lambda: answers(base_url), poll=0.1)
        front_port = free_port()
        with log.open("ab") as out:
            processes.append(
                subprocess.Popen(
                    ["bash", str(ROOT / "scripts/nginx-front.sh"), str(state / "nginx"),
                     f"127.0.0.1:{port}", f"127.0.0.1:{front_port}"],
                    stdout=out, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        base_url = f"http://127.0.0.1:{front_port}"
    try:
        wait(lambda: answers(base_url), poll=0.1)
        yield base_url
    finally:
        for process in reversed(processes):
            stop(process)


def answers(base_url: str) -> bool:
    try:
        requests.get(base_url + "/api/v1/node/", timeout=5)
    except requests.ConnectionError:
        return False
    return True


def open_slow(base_url: str, count: int) -> list[socket.socket]:
    host, port = base_url.removeprefix("http://").split(":")
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(HALF_REQUEST_LINE)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def closed_by_server(sockets: list[socket.socket]) -> int:
    closed = 0
    for sock in sockets:
        try:
            closed += not sock.recv(4096)  # a 408 comes before the close: count it closed too
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def time_requests(base_url: str, authorization: str, count: int) -> tuple[list[float], int]:
    durations, failed = [], 0
    for _ in range(count):
        began = time.perf_counter()
        try:
            response = requests.get(
                base_url + "/api/v1/container/",
                headers={"Authorization": authorization},
                timeout=TIMEOUT,
            )
            response.raise_for_status()
        except requests.RequestException:
            failed += 1
            continue
        durations.append(time.perf_counter() - began)
    return durations, failed


def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cp-slowloris-") as tmp:
        state = Path(tmp)
        env = secured(
            {
                **os.environ,
                "CONTROLPLANE_DATABASE_URL": f"sqlite:///{state}/cp.db",
                # gunicorn 27 listens on a control socket under $HOME; one per run.
                "HOME": str(state),
            }
        )
        authorization = f"ApiKey bench:{new_database(env)}"
        print(f"{count} GETs per row, one at a time, {TIMEOUT:g} s timeout each")
        print(f"{'server':<8} {'slow':>5} {'answered':>8} {'median ms':>9} {'p99 ms':>7} "
              f"{'failed':>6} {'slow closed':>11}")  # fmt: skip
        for kind in ("gthread", "preread", "nginx"):
            with served(kind, env, state) as base_url:
                for slow in SLOW_SOCKETS:
                    sockets = open_slow(base_url, slow)
                    try:
                        durations, failed = time_requests(base_url, authorization, count)
                        closed = closed_by_server(sockets)
                    finally:
                        for sock in sockets:
                            sock.close()
                    figures = summary(durations) if durations else None
                    median = f"{figures['median_ms']:.1f}" if figures else "-"
                    p99 = f"{figures['p99_ms']:.1f}" if figures else "-"
                    print(f"{kind:<8} {slow:>5} {len(durations):>8} {median:>9} {p99:>7} "
                          f"{failed:>6} {closed:>11}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
