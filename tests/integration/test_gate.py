"""The reporter's gate on a real Redis: a sealed message gets in once; the same delivery again
(a retry, a redelivery) gets in until it was applied; any other copy is a replay."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from controlplane.core import signing
from controlplane.core.signing import NodeToken, SealError
from controlplane.reporter.gate import NONCE_PREFIX, Gate, Nonces
from tests.support.locations import REDIS_URL

pytestmark = pytest.mark.integration

TASK = "controlplane.report.node"
NODE = NodeToken(node_uuid=str(uuid.uuid4()), key=b"k" * 32)
BODY = {"report": {"node_uuid": NODE.node_uuid}}


@pytest.fixture
def gate() -> Iterator[Gate]:
    client = redis.Redis.from_url(REDIS_URL)
    yield Gate(NODE.key_for, Nonces(client, ttl_seconds=60))
    for key in client.scan_iter(f"{NONCE_PREFIX}{NODE.node_uuid}.*"):
        client.delete(key)
    client.close()


def message() -> dict[str, object]:
    return signing.sealed(NODE.key, NODE.node_uuid, f"{signing.FROM_NODE}:{TASK}", BODY)


def test_a_delivery_gets_in_again_until_it_is_spent(gate: Gate) -> None:
    sent = message()
    body, sealed = gate.admit(TASK, sent, task_id="t1")
    assert (body, sealed.node_uuid) == (BODY, NODE.node_uuid)
    gate.admit(TASK, sent, task_id="t1")  # a retry of the same task
    with pytest.raises(SealError, match="a replay"):
        gate.admit(TASK, sent, task_id="t2")  # a copy sent as a new task
    gate.spend(sealed)
    with pytest.raises(SealError, match="a replay"):
        gate.admit(TASK, sent, task_id="t1")


def test_a_nonce_is_forgotten_after_its_time_spent_or_not(gate: Gate) -> None:
    _, sealed = gate.admit(TASK, message(), task_id="t1")
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{NONCE_PREFIX}{sealed.node_uuid}.{sealed.nonce}"
    assert 0 < client.ttl(key) <= 60
    gate.spend(sealed)
    assert 0 < client.ttl(key) <= 60
    client.close()


def test_a_stale_seal_is_refused_before_its_nonce_is_kept(gate: Gate) -> None:
    stale_ns = time.time_ns() - 2 * signing.SEAL_WINDOW_NS
    subject = f"{signing.FROM_NODE}:{TASK}"
    stale = {
        **BODY,
        signing.SEAL_FIELD: signing.seal(NODE.key, NODE.node_uuid, subject, BODY, now_ns=stale_ns),
    }
    with pytest.raises(SealError, match="window"):
        gate.admit(TASK, stale, task_id="t1")
