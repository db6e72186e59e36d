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

import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from controlplane.core import signing
from controlplane.core.signing import Seal, SealError

NONCE_PREFIX = "controlplane.nonce."
_SPENT = b"spent"


class Nonces:
    def __init__(self, client: redis.Redis, *, ttl_seconds: int) -> None:
        self._client = client
        self.ttl_seconds = ttl_seconds

    def admit(self, sealed: Seal, task_id: str) -> bool:
        """Whether this nonce is new, or in use by this very delivery."""
        key = self._key(sealed)
        if self._client.set(key, task_id, nx=True, ex=self.ttl_seconds):
            return True
        return bool(self._client.get(key) == task_id.encode())

    def spend(self, sealed: Seal) -> None:
        self._client.set(self._key(sealed), _SPENT, xx=True, keepttl=True)

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
        body, sealed = signing.unseal(message, f"{signing.FROM_NODE}:{task}", self.key_for)
        signing.check_fresh(sealed, now_ns=self.clock())
        if not self.nonces.admit(sealed, task_id):
            raise SealError(f"a replay: nonce {sealed.nonce} of node {sealed.node_uuid} was used")
        return body, sealed

    def spend(self, sealed: Seal) -> None:
        """The message was applied: any copy of it from now on is a replay."""
        self.nonces.spend(sealed)
