"""The reporter's door: only a message sealed by an enrolled node, fresh, and not seen before gets
in (docs/architecture.md §5.9).

A seal names the node whose key made it; the tasks then accept what it says only about that node
(`controlplane.reporter.tasks`). Freshness is the seal's time within `SEAL_WINDOW_NS` of the
reporter's clock and a nonce not used before, remembered in Redis for two windows (a seal may be
that far ahead or behind).

A nonce is remembered with the Celery task id of the message that brought it, so the same
delivery coming back (a retry after a database error, a redelivery after the reporter was killed)
is let in again until its task finishes and `spend` marks the nonce used: only then is a copy a
replay. A replay with the same task id before that is harmless, since every report is
idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from controlplane.core import signing
from controlplane.core.signing import Seal, SealError

log = logging.getLogger(__name__)

NONCE_PREFIX = "controlplane.nonce."
_SPENT = b"spent"


class Nonces:
    def __init__(self, client: redis.Redis, *, ttl_seconds: int) -> None:
        self._client = client
        self.ttl_seconds = ttl_seconds

    def admit(self, sealed: Seal, task_id: str) -> bool:
        """Whether this nonce is new, or in use by this very delivery."""
        return self.admit_many([(sealed, task_id)])[0]

    def admit_many(self, deliveries: list[tuple[Seal, str]]) -> list[bool]:
        """`admit` for each of many deliveries, in two round trips to Redis at most."""
        with self._client.pipeline(transaction=False) as pipe:
            for sealed, task_id in deliveries:
                pipe.set(self._key(sealed), task_id, nx=True, ex=self.ttl_seconds)
            admitted = [bool(new) for new in pipe.execute()]
        taken = [index for index, new in enumerate(admitted) if not new]
        if taken:
            with self._client.pipeline(transaction=False) as pipe:
                for index in taken:
                    pipe.get(self._key(deliveries[index][0]))
                holders = pipe.execute()
            for index, holder in zip(taken, holders, strict=True):
                admitted[index] = holder == deliveries[index][1].encode()
        return admitted

    def spend(self, sealed: Seal) -> None:
        self.spend_many([sealed])

    def spend_many(self, seals: list[Seal]) -> None:
        with self._client.pipeline(transaction=False) as pipe:
            for sealed in seals:
                pipe.set(self._key(sealed), _SPENT, xx=True, keepttl=True)
            pipe.execute()

    @staticmethod
    def _key(sealed: Seal) -> str:
        return f"{NONCE_PREFIX}{sealed.node_uuid}.{sealed.nonce}"


class Gate:
    def __init__(
        self,
        key_for: Callable[[str], bytes | None],
        nonces: Nonces,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.key_for = key_for
        self.nonces = nonces
        self.clock = clock

    def admit(
        self, task: str, message: Mapping[str, Any], *, task_id: str
    ) -> tuple[dict[str, Any], Seal]:
        """The body of a node's message and its seal, which names the sender.

        Raises:
            SealError: unsealed, badly sealed, from a node not enrolled or revoked, stale, or
                replayed; it must not be applied.
        """
        admitted = self.admit_many(task, [(message, task_id)])[0]
        if isinstance(admitted, SealError):
            raise admitted
        return admitted

    def admit_many(
        self, task: str, deliveries: list[tuple[Mapping[str, Any], str]]
    ) -> list[tuple[dict[str, Any], Seal] | SealError]:
        """`admit` for each of many `(message, task_id)` deliveries of one task, with the
        nonces checked in one go: each the body and seal, or why it must not be applied."""
        opened: list[tuple[dict[str, Any], Seal] | SealError] = []
        for message, _ in deliveries:
            try:
                body, sealed = signing.unseal(message, f"{signing.FROM_NODE}:{task}", self.key_for)
                signing.check_fresh(sealed, now_ns=self.clock())
                opened.append((body, sealed))
            except SealError as exc:
                opened.append(exc)
        fresh = [
            (index, (result[1], deliveries[index][1]))
            for index, result in enumerate(opened)
            if not isinstance(result, SealError)
        ]
        admitted = self.nonces.admit_many([delivery for _, delivery in fresh])
        for (index, (sealed, _)), new in zip(fresh, admitted, strict=True):
            if not new:
                opened[index] = SealError(
                    f"a replay: nonce {sealed.nonce} of node {sealed.node_uuid} was used"
                )
        return opened

    def spend(self, sealed: Seal) -> None:
        """The message was applied: any copy of it from now on is a replay."""
        self.nonces.spend(sealed)

    def spend_many(self, seals: list[Seal]) -> None:
        self.nonces.spend_many(seals)


def from_sender(task: str, sender: str, node_uuid: str) -> bool:
    """Whether a message is about its sender's node; a node speaks only for itself (the
    node-authorizer rule), so one that names another node is refused and logged."""
    if node_uuid == sender:
        return True
    log.warning("refused a %s message from node %s: it speaks for node %s", task, sender, node_uuid)
    return False
