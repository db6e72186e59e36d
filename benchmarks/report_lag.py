"""How far the reporter falls behind a burst of container state changes.

Starts a real reporter (`controlplane reporter`) over a fresh SQLite file and a Redis database,
records BURST containers, then sends one change per container as fast as it can, three ways,
and prints for each how long after the last change was sent the last one was applied (the lag):
one message per report (as the agent's tasks send them), through the agent's `ReportBatch` (as
its events watcher sends them: a burst coalesces into a few messages and transactions), and as
one relist picture (one message, one transaction).

    .venv/bin/python benchmarks/report_lag.py [redis://127.0.0.1:6379/12] [100 300 1000]

The Redis database given is flushed before and after; use one nothing else uses. Figures only:
nothing here asserts a timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from common import deployed_node, secured
from sqlalchemy import func, select

from controlplane.celery_app import make_celery
from controlplane.core.lifecycle import State
from controlplane.core.messages import (
    REPORTER_QUEUE,
    TASK_REPORT_CONTAINER,
    TASK_REPORT_CONTAINERS,
    TASK_REPORT_PICTURE,
    ContainerReport,
    NodePicture,
)
from controlplane.db import containers, migrate, users
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import Database
from controlplane.db.models import Container
from controlplane.keyring import Keyring
from controlplane.settings import Settings
from workers.reports import ReportBatch, Reports

REQUEST = RequestInfo(method="POST", path="/api/v1/container/", user_agent="", ip="", body="")
TIMEOUT = 120.0


def record_containers(database: Database, node_id: int, count: int) -> list[str]:
    with database.session() as session:
        user, _ = users.ensure_user(session, "bench")
        uuids = []
        for _ in range(count):
            ident = str(uuid.uuid4())
            containers.insert_container(
                session,
                owner_id=user.id,
                node_id=node_id,
                fields={"uuid": ident, "name": "b", "unique_name": f"b-{ident}", "image_name": "x"},
                request=REQUEST,
            )
            uuids.append(ident)
    return uuids


def reports(node: Reports, uuids: list[str], state: State) -> list[ContainerReport]:
    now = time.time_ns()
    return [
        ContainerReport(
            container_uuid=ident, state=state.value, observed_ns=now + i, node_uuid=node.node_uuid,
            docker_id="d" * 64, exit_code=0 if state is State.STOPPED else None,
        )
        for i, ident in enumerate(uuids)
    ]  # fmt: skip


def wait_applied(database: Database, uuids: list[str], state: State) -> float:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with database.session() as session:
            done = session.scalar(
                select(func.count())
                .select_from(Container)
                .where(Container.uuid.in_(uuids), Container.state == state.value)
            )
        if done == len(uuids):
            return time.monotonic()
        time.sleep(0.01)
    raise SystemExit(f"not applied within {TIMEOUT} s")


def send(node: Reports, task: str, body: dict[str, Any]) -> None:
    """Send `body` as the node's agent would: sealed with its key."""
    node.celery.send_task(task, kwargs=node.sealed(task, body), queue=REPORTER_QUEUE)


def one_each(node: Reports, database: Database, uuids: list[str]) -> float:
    for report in reports(node, uuids, State.RUNNING):
        send(node, TASK_REPORT_CONTAINER, {"report": report.to_dict()})
    sent = time.monotonic()
    return wait_applied(database, uuids, State.RUNNING) - sent


def batched(node: Reports, database: Database, uuids: list[str]) -> float:
    sender = ReportBatch(lambda batch: send(node, TASK_REPORT_CONTAINERS, {"reports": batch}))
    sender.start()
    for report in reports(node, uuids, State.STOPPED):
        sender.put(report.to_dict())
    sent = time.monotonic()
    applied = wait_applied(database, uuids, State.STOPPED)
    sender.stop()
    return applied - sent


def picture(node: Reports, database: Database, uuids: list[str]) -> float:
    message = NodePicture(
        node_uuid=node.node_uuid,
        observed_ns=time.time_ns(),
        containers=[r.to_dict() for r in reports(node, uuids, State.RUNNING)],
    )
    send(node, TASK_REPORT_PICTURE, {"picture": message.to_dict()})
    sent = time.monotonic()
    return wait_applied(database, uuids, State.RUNNING) - sent


def main(redis_url: str, sizes: list[int]) -> None:
    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        env = secured(
            {**os.environ, "CONTROLPLANE_DATABASE_URL": url, "CONTROLPLANE_BROKER_URL": redis_url}
        )
        log = (Path(tmp) / "reporter.log").open("wb")
        reporter = subprocess.Popen(
            [str(Path(sys.executable).parent / "controlplane"), "reporter"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        database = Database(url)
        with database.session() as session:
            bench_node = deployed_node(session, "bench")
        token = Keyring(database, env["CONTROLPLANE_SECRET_KEY"].encode()).token(bench_node)
        node = Reports(make_celery(Settings(broker_url=redis_url)), token=token)
        try:
            time.sleep(3)  # the reporter connects to the broker
            print("lag after the last change was sent, in seconds")
            print("burst  one message each  batched (watcher)  one relist picture")
            for size in sizes:
                uuids = record_containers(database, bench_node.id, size)
                single = one_each(node, database, uuids)
                coalesced = batched(node, database, uuids)
                relist = picture(node, database, uuids)
                print(f"{size:5d}  {single:17.2f}  {coalesced:17.2f}  {relist:18.2f}")
        finally:
            reporter.terminate()
            reporter.wait(30)
            broker.flushdb()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    target = arguments.pop(0) if arguments and arguments[0].startswith("redis") else None
    main(target or "redis://127.0.0.1:6379/12", [int(a) for a in arguments] or [100, 300, 1000])
