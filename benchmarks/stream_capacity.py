"""How many open event sockets an API server holds while it still answers REST requests.

Opens SOCKETS Docker Cloud events sockets (each stays open, as a dashboard's does), then times
REST requests while they are all open, and prints the figures. It talks only to the API it is
given (loopback), and every loop is bounded in count and time. Run it against a running API
whose CONTROLPLANE_MAX_STREAMS_PER_USER is above SOCKETS (one user opens them all):

    .venv/bin/python benchmarks/stream_capacity.py \
        http://127.0.0.1:8000 admin "$(cat .state/admin.key)" 200

A socket that cannot be opened within the timeout, or a REST request that fails or takes longer
than the timeout, is counted, not retried: with gunicorn's gthread worker each socket holds one
of the worker's threads, so past workers x threads sockets new connections wait in the queue.
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
import websocket

TIMEOUT = 5.0
REST_SAMPLES = 20


def open_socket(url: str, header: dict[str, str]) -> Any | None:
    try:
        return websocket.create_connection(url, header=header, timeout=TIMEOUT)
    except (OSError, websocket.WebSocketException):
        return None


def time_rest(base_url: str, header: dict[str, str]) -> tuple[list[float], int]:
    durations, failures = [], 0
    for _ in range(REST_SAMPLES):
        started = time.monotonic()
        try:
            response = requests.get(f"{base_url}/api/v1/node/", headers=header, timeout=TIMEOUT)
            response.raise_for_status()
            durations.append(time.monotonic() - started)
        except requests.RequestException:
            failures += 1
    return durations, failures


def main(base_url: str, username: str, key: str, sockets: int) -> None:
    header = {"Authorization": f"ApiKey {username}:{key}"}
    ws_url = base_url.replace("http://", "ws://", 1) + "/api/audit/v1/events"
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        opened = list(pool.map(lambda _: open_socket(ws_url, header), range(sockets)))
    held = [ws for ws in opened if ws is not None]
    print(f"sockets asked {sockets}, open {len(held)}, in {time.monotonic() - started:.1f} s")
    try:
        durations, failures = time_rest(base_url, header)
        if durations:
            print(
                f"REST with them open: {len(durations)} ok, {failures} failed or over "
                f"{TIMEOUT:.0f} s; median {statistics.median(durations) * 1000:.1f} ms, "
                f"max {max(durations) * 1000:.1f} ms"
            )
        else:
            print(f"REST with them open: all {failures} requests failed or took over {TIMEOUT} s")
    finally:
        for ws in held:
            ws.close(timeout=0.5)
            ws.shutdown()


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
