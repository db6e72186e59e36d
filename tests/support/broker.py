"""A Redis database seen as the broker: queued and unacknowledged tasks."""

from __future__ import annotations

import json
import time

import redis
from celery import Celery

from controlplane.core.messages import REPORTER_QUEUE, node_queue
from tests.support.plane import Plane
from tests.support.waiting import wait_for


def raw_client(url: str) -> Celery:
    """A plain Celery client on the broker at `url`: what anybody who reaches Redis can send."""
    return Celery(broker=url, set_as_current=False)


# Seconds an idle broker must stay idle: kombu takes a message off its queue (BRPOP) a moment
# before it records it as unacknowledged, and a look in between would see neither.
SETTLED = 0.2


def wait_broker_idle(db: redis.Redis, plane: Plane) -> None:
    """Wait until every queued task ran and was acknowledged (acks_late: after it finished),
    as seen twice, `SETTLED` seconds apart."""
    queues = (node_queue(plane.node_uuid), REPORTER_QUEUE)

    def quiet() -> bool:
        return all(db.llen(q) == 0 for q in queues) and db.hlen("unacked") == 0

    def idle() -> bool:
        if not quiet():
            return False
        time.sleep(SETTLED)
        return quiet()

    wait_for(idle, timeout=30)


def unacked(db: redis.Redis, queue: str) -> int:
    """How many deliveries from `queue` were taken and not yet acknowledged."""
    return sum(1 for raw in db.hvals("unacked") if json.loads(raw)[2] == queue)


def redeliver_unacked(db: redis.Redis, queue: str) -> int:
    """Put the deliveries a killed worker left unacknowledged back on their queue, as kombu's
    Redis transport does once the visibility timeout (an hour) has passed."""
    moved = 0
    for tag, raw in db.hgetall("unacked").items():
        message, _exchange, routing_key = json.loads(raw)
        if routing_key == queue:
            db.lpush(queue, json.dumps(message))
            db.hdel("unacked", tag)
            db.zrem("unacked_index", tag)
            moved += 1
    return moved
