"""The reporter's heartbeat intake on a real Redis, fed by a real Celery producer: heartbeats are
applied in batches no larger than asked, each admitted as the gate admits any message (a forged
seal, a replay or a node speaking for another is refused), and a batch the database refuses is
applied one by one, so one bad heartbeat costs only itself."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from kombu import Exchange, Queue
from sqlalchemy.exc import OperationalError

from controlplane.core import signing
from controlplane.core.messages import TASK_REPORT_NODE, NodeReport
from controlplane.core.signing import NodeToken
from controlplane.reporter.gate import NONCE_PREFIX, Gate, Nonces
from controlplane.reporter.heartbeats import HeartbeatIntake
from tests.support.locations import REDIS_URL

pytestmark = pytest.mark.integration

NODES = [NodeToken(node_uuid=str(uuid.uuid4()), key=bytes([n]) * 32) for n in range(1, 6)]
KEYS = {token.node_uuid: token.key for token in NODES}


class Intake:
    """A HeartbeatIntake on a queue of this test's own (the session plane's reporter drains
    the real one), and what it applied, batch by batch."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        name = f"test.heartbeats.{uuid.uuid4().hex[:8]}"
        self.queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
        self.app = Celery("test-heartbeats", broker=REDIS_URL, set_as_current=False)
        self.app.conf.task_serializer = "json"
        self.batches: list[list[NodeReport]] = []
        self.refreshed: list[set[str]] = []
        self.fail_on = fail_on
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.intake = HeartbeatIntake(
            self.app.connection_for_read,
            Gate(KEYS.get, Nonces(self.redis, ttl_seconds=60)),
            self.refreshed.append,
            self.apply,
            batch=20,
            queue=self.queue,
        )

    def apply(self, reports: list[NodeReport]) -> None:
        if any(report.node_uuid == self.fail_on for report in reports):
            raise OperationalError("UPDATE nodes", {}, Exception("refused for the test"))
        self.batches.append(reports)

    def send(self, kwargs: dict[str, Any]) -> None:
        self.app.send_task(TASK_REPORT_NODE, kwargs=kwargs, queue=self.queue.name)

    def applied(self) -> list[NodeReport]:
        return [report for batch in self.batches for report in batch]

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.applied()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # anything more would have come by now

    def close(self) -> None:
        self.intake.stop()
        with self.app.connection_for_write() as connection:
            self.queue.bind(connection.default_channel).delete()
        for token in NODES:
            for key in self.redis.scan_iter(f"{NONCE_PREFIX}{token.node_uuid}.*"):
                self.redis.delete(key)
        self.redis.close()


@pytest.fixture
def intake() -> Iterator[Intake]:
    made = Intake()
    yield made
    made.close()


def heartbeat(token: NodeToken, *, about: str | None = None, key: bytes | None = None) -> dict:
    report = NodeReport(
        node_uuid=about or token.node_uuid,
        docker_version="27.0.0",
        cpu=2,
        memory_mb=2048,
        observed_ns=time.time_ns(),
    )
    subject = f"{signing.FROM_NODE}:{TASK_REPORT_NODE}"
    return signing.sealed(key or token.key, token.node_uuid, subject, {"report": report.to_dict()})


def test_heartbeats_are_applied_in_batches_no_larger_than_asked(intake: Intake) -> None:
    for _ in range(10):
        for token in NODES:
            intake.send(heartbeat(token))
    intake.intake.start()
    intake.wait_for(50)
    assert len(intake.applied()) == 50
    assert 3 <= len(intake.batches) < 50
    assert max(len(batch) for batch in intake.batches) <= 20
    assert set().union(*intake.refreshed) == set(KEYS)


def test_a_forged_a_replayed_and_a_misattributed_heartbeat_are_refused(intake: Intake) -> None:
    honest, victim = NODES[0], NODES[1]
    replayed = heartbeat(honest)
    intake.send(replayed)
    intake.send(replayed)  # a copy, sent as a new task
    intake.send(heartbeat(honest, key=b"x" * 32))  # sealed with a key not the node's
    intake.send(heartbeat(honest, about=victim.node_uuid))  # the honest node lying about another
    intake.app.send_task("controlplane.report.container", kwargs={}, queue=intake.queue.name)
    intake.intake.start()
    intake.wait_for(1)
    assert [report.node_uuid for report in intake.applied()] == [honest.node_uuid]


def test_a_batch_the_database_refuses_is_applied_one_by_one() -> None:
    poison = NODES[0].node_uuid
    intake = Intake(fail_on=poison)
    try:
        for token in NODES:
            intake.send(heartbeat(token))
        intake.intake.start()
        intake.wait_for(len(NODES) - 1)
        assert sorted(r.node_uuid for r in intake.applied()) == sorted(KEYS.keys() - {poison})
    finally:
        intake.close()
