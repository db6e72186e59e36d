"""How far the reporter falls behind a burst of container state changes.

Starts a real reporter (`controlplane reporter`) over a fresh SQLite file and a Redis database,
records BURST containers, then sends one report per container as fast as the broker takes them
(what a node's watcher sends when hundreds of containers change at once) and prints how long
after the last report was sent the last one was applied: the lag. It then sends the same number
of changes as one relist picture (one message, one transaction) and prints that lag too.

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

import redis
from sqlalchemy import func, select

from controlplane import accounts, migrate, store
from controlplane.audit import RequestInfo
from controlplane.celery_app import make_celery
from controlplane.database import Database
from controlplane.lifecycle import State
from controlplane.messages import (
    REPORTER_QUEUE,
    TASK_REPORT_CONTAINER,
    TASK_REPORT_PICTURE,
    ContainerReport,
    NodePicture,
    NodeReport,
)
from controlplane.models import Container
from controlplane.settings import Settings

REQUEST = RequestInfo(method="POST", path="/api/v1/container/", user_agent="", ip="", body="")
NODE = str(uuid.uuid4())
TIMEOUT = 120.0


def record_containers(database: Database, count: int) -> list[str]:
    with database.session() as session:
        user, _ = accounts.ensure_user(session, "bench")
        node, _ = store.apply_node_report(
            session,
            NodeReport(
                node_uuid=NODE, name="bench", docker_version="", cpu=1, memory_mb=1,
                observed_ns=time.time_ns(),
            ),
        )  # fmt: skip
        uuids = []
        for _ in range(count):
            ident = str(uuid.uuid4())
            store.insert_container(
                session,
                owner_id=user.id,
                node_id=node.id,
                fields={"uuid": ident, "name": "b", "unique_name": f"b-{ident}", "image_name": "x"},
                request=REQUEST,
            )
            uuids.append(ident)
    return uuids


def reports(uuids: list[str], state: State) -> list[ContainerReport]:
    now = time.time_ns()
    return [
        ContainerReport(
            container_uuid=ident, state=state.value, observed_ns=now + i, node_uuid=NODE,
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


def burst(celery, database: Database, uuids: list[str]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    for report in reports(uuids, State.RUNNING):
        celery.send_task(
            TASK_REPORT_CONTAINER, kwargs={"report": report.to_dict()}, queue=REPORTER_QUEUE
        )
    sent = time.monotonic()
    return sent - started, wait_applied(database, uuids, State.RUNNING) - sent


def picture(celery, database: Database, uuids: list[str]) -> float:  # type: ignore[no-untyped-def]
    message = NodePicture(
        node_uuid=NODE,
        observed_ns=time.time_ns(),
        containers=[r.to_dict() for r in reports(uuids, State.STOPPED)],
    )
    celery.send_task(
        TASK_REPORT_PICTURE, kwargs={"picture": message.to_dict()}, queue=REPORTER_QUEUE
    )
    sent = time.monotonic()
    return wait_applied(database, uuids, State.STOPPED) - sent


def main(redis_url: str, sizes: list[int]) -> None:
    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        env = {**os.environ, "CONTROLPLANE_DATABASE_URL": url, "CONTROLPLANE_BROKER_URL": redis_url}
        log = (Path(tmp) / "reporter.log").open("wb")
        reporter = subprocess.Popen(
            [str(Path(sys.executable).parent / "controlplane"), "reporter"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        database = Database(url)
        celery = make_celery(Settings(broker_url=redis_url))
        try:
            time.sleep(3)  # the reporter connects to the broker
            print("burst  send s  lag after last report s  relist picture lag s")
            for size in sizes:
                uuids = record_containers(database, size)
                sending, lag = burst(celery, database, uuids)
                relist = picture(celery, database, uuids)
                print(f"{size:5d}  {sending:6.2f}  {lag:23.2f}  {relist:20.2f}")
        finally:
            reporter.terminate()
            reporter.wait(30)
            broker.flushdb()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    target = arguments.pop(0) if arguments and arguments[0].startswith("redis") else None
    main(target or "redis://127.0.0.1:6379/12", [int(a) for a in arguments] or [100, 300, 1000])
