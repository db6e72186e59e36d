"""What one tenant can take from the others, with the API's default caps (docs/operations.md §8):
the abuses of issue 11, replayed against the API alone (a fresh SQLite file, a Deployed node, no
agent) so their cost is the control plane's.

- creates: CREATES requests in a burst, each with the largest labels, variables and command the
  API accepts; how many it took, how many it refused (429 rate limit, 403 quota), and how much
  the database grew;
- a list: one `GET ?limit=200` of those containers; its size and the API worker's resident
  memory before and after;
- streams: the abuser opens SOCKETS event sockets at once; how many it got, and whether another
  tenant can still open its own.

    .venv/bin/python benchmarks/tenant_abuse.py [--redis redis://127.0.0.1:6379/14]

Before the caps (the issue's figures, same machine): 200 creates with a 1 MB label grew the
database by 206 MB in 4 s; one list of 200 answered 200 MB and took a worker from 145 MB to
926 MB; 150 sockets of one tenant made every other tenant's handshake fail with 503.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis
import requests
import websocket
from api_load import ApiPlane
from common import IMAGE, create_user

from controlplane.core import validation

CREATES = 200
SOCKETS = 150
# The defaults, stated so that a changed default shows in the figures' header.
DEFAULT_CAPS = {
    "CONTROLPLANE_MAX_CONTAINERS_PER_USER": "500",
    "CONTROLPLANE_CREATES_PER_MINUTE": "120",
    "CONTROLPLANE_MAX_STREAMS_PER_USER": "10",
}


def largest_definition(number: int) -> dict[str, Any]:
    """A create at every size cap at once: labels and variables filling their whole budget,
    and the longest command."""
    item = validation.MAX_ITEM_BYTES
    count = validation.MAX_MAPPING_BYTES // (item + 8)
    return {
        "image_name": IMAGE,
        "name": f"abuse-{number}",
        "labels": {f"k{n:06d}": "v" * item for n in range(count)},
        "container_envvars": [{"key": f"V{n:06d}", "value": "v" * item} for n in range(count)],
        "run_command": "x" * validation.MAX_COMMAND_BYTES,
    }


def database_bytes(state: Path) -> int:
    return sum(path.stat().st_size for path in state.glob("api.db*"))


def worker_rss_mb(master: int) -> float:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def creates(plane: ApiPlane) -> dict[str, Any]:
    session = requests.Session()
    session.headers["Authorization"] = plane.authorization
    url = f"http://127.0.0.1:{plane.port}/api/v1/container/"
    grown_from = database_bytes(plane.state)
    started = time.monotonic()
    statuses: dict[int, int] = {}
    for number in range(CREATES):
        status = session.post(url, json=largest_definition(number), timeout=60).status_code
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "asked": CREATES,
        "statuses": statuses,
        "seconds": round(time.monotonic() - started, 1),
        "database_growth_mb": round((database_bytes(plane.state) - grown_from) / 2**20, 1),
    }


def big_list(plane: ApiPlane) -> dict[str, Any]:
    before = worker_rss_mb(plane.api.pid)
    answer = requests.get(
        f"http://127.0.0.1:{plane.port}/api/v1/container/?limit=200",
        headers={"Authorization": plane.authorization},
        timeout=60,
    )
    answer.raise_for_status()
    meta = answer.json()["meta"]
    return {
        "answer_mb": round(len(answer.content) / 2**20, 2),
        "objects": len(answer.json()["objects"]),
        "meta_limit": meta["limit"],
        "worker_rss_mb_before": round(before, 1),
        "worker_rss_mb_after": round(worker_rss_mb(plane.api.pid), 1),
    }


def open_socket(url: str, authorization: str) -> Any:
    try:
        return websocket.create_connection(url, header={"Authorization": authorization}, timeout=5)
    except (OSError, websocket.WebSocketException) as exc:
        return exc


def streams(plane: ApiPlane) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{plane.port}/api/audit/v1/events"
    other = f"ApiKey other:{create_user(plane.env, 'other')}"
    with ThreadPoolExecutor(max_workers=32) as pool:
        abuser = list(pool.map(lambda _: open_socket(url, plane.authorization), range(SOCKETS)))
    victim = [open_socket(url, other) for _ in range(3)]
    try:
        refusals: dict[str, int] = {}
        for outcome in abuser:
            if isinstance(outcome, Exception):
                key = getattr(outcome, "status_code", None) or type(outcome).__name__
                refusals[str(key)] = refusals.get(str(key), 0) + 1
        return {
            "abuser_asked": SOCKETS,
            "abuser_open": sum(not isinstance(o, Exception) for o in abuser),
            "abuser_refused": refusals,
            "other_tenant_open": sum(not isinstance(o, Exception) for o in victim),
            "other_tenant_asked": len(victim),
        }
    finally:
        for ws in abuser + victim:
            if not isinstance(ws, Exception):
                ws.close(timeout=0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    broker = redis.Redis.from_url(args.redis)
    broker.flushdb()
    state = Path(tempfile.mkdtemp(prefix="bench-abuse-"))
    plane = ApiPlane(args.redis, state, settings=DEFAULT_CAPS)
    try:
        print(f"caps: {DEFAULT_CAPS}")
        print(f"creates: {creates(plane)}")
        print(f"list: {big_list(plane)}")
        print(f"streams: {streams(plane)}")
    finally:
        plane.close()
        broker.flushdb()


if __name__ == "__main__":
    main()
