"""How long the control plane takes to notice a lost node, and to take it back.

Runs a reporter and one node agent (for the local Docker Engine; the agent makes no containers)
on a fresh SQLite file and the broker given, then, ROUNDS times, kills the agent with SIGKILL (a
host that vanishes says no goodbye) at a random moment between two heartbeats, times how long
the node takes to show Unreachable, restarts the agent and times how long the node takes to
show Deployed again. Each grace period given is measured with its own reporter. Prints the
figures; asserts nothing.

    .venv/bin/python benchmarks/node_loss.py redis://127.0.0.1:6379/9 15 6

Expect detection between grace - heartbeat interval and grace + grace/5 (the sweep period): the
lease runs from the last heartbeat applied, which came up to one interval before the kill.
"""

from __future__ import annotations

import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import enroll, new_database, secured, spawn, stop

from controlplane.core.signing import NodeToken

ROUNDS = 5
POLL = 0.05
LIMIT = 120.0


def node_state(database: Path, node_uuid: str) -> str | None:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT state FROM nodes WHERE uuid = ?", (node_uuid,)).fetchone()
    return None if row is None else str(row[0])


def seconds_until(database: Path, node_uuid: str, state: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < LIMIT:
        try:
            if node_state(database, node_uuid) == state:
                return time.monotonic() - started
        except sqlite3.OperationalError:  # the schema is still being made
            pass
        time.sleep(POLL)
    raise SystemExit(f"node {node_uuid} did not become {state} within {LIMIT} s")


def describe(values: list[float]) -> str:
    return (
        f"min {min(values):.1f} s, median {statistics.median(values):.1f} s, "
        f"max {max(values):.1f} s"
    )


def measure(broker_url: str, grace: int, state_dir: Path) -> None:
    database = state_dir / f"grace-{grace}.db"
    heartbeat = float(os.environ.get("CONTROLPLANE_AGENT_HEARTBEAT_INTERVAL", "5"))
    env = secured(
        {
            **os.environ,
            "CONTROLPLANE_DATABASE_URL": f"sqlite:///{database}",
            "CONTROLPLANE_BROKER_URL": broker_url,
            "CONTROLPLANE_NODE_GRACE": str(grace),
            "CONTROLPLANE_AGENT_BROKER_URL": broker_url,
        }
    )
    new_database(env)
    env["CONTROLPLANE_AGENT_TOKEN"] = enroll(env, "benchmark-node")
    node_uuid = NodeToken.parse(env["CONTROLPLANE_AGENT_TOKEN"]).node_uuid
    reporter = spawn(["reporter"], env, state_dir / "reporter.log")
    agent = spawn(["agent"], env, state_dir / "agent.log")
    lost, back = [], []
    try:
        seconds_until(database, node_uuid, "Deployed")
        for _ in range(ROUNDS):
            # A host is lost at any point between two heartbeats, not just after one.
            time.sleep(random.uniform(0, heartbeat))
            agent.kill()
            agent.wait()
            lost.append(seconds_until(database, node_uuid, "Unreachable"))
            agent = spawn(["agent"], env, state_dir / "agent.log")
            back.append(seconds_until(database, node_uuid, "Deployed"))
    finally:
        stop(agent)
        stop(reporter)
    print(f"grace {grace} s, heartbeat every {heartbeat} s, {ROUNDS} rounds:")
    print(f"  agent killed -> Unreachable: {describe(lost)}")
    print(f"  agent restarted -> Deployed: {describe(back)} (includes the agent's start-up)")


def main(broker_url: str, graces: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="node-loss-") as state:
        for grace in graces:
            measure(broker_url, grace, Path(state))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], [int(value) for value in sys.argv[2:]])
