"""The control plane's end of node credentials: each node's current key, and its token.

Shared by the API (which seals the tasks it sends and opens the log lines it reads), the reporter
(which opens every report) and the CLI (which prints tokens). A key is derived from the secret key
and the node's key generation as the database has it, and kept for `ttl` seconds, so a busy
reporter reads a node's row once a second rather than once a message; a rotation or revocation
takes effect within that second.
"""

from __future__ import annotations

import threading
import time

from controlplane.core.errors import NodeUnreachableError
from controlplane.core.lifecycle import NodeState
from controlplane.core.signing import NodeToken, node_key
from controlplane.db import enrollment
from controlplane.db.engine import Database
from controlplane.db.models import Node

# Forged seals may name any number of made-up nodes; the cache forgets everything past this many.
_MAX_CACHED = 10_000


class Keyring:
    def __init__(self, database: Database, secret_key: bytes, *, ttl: float = 1.0) -> None:
        self.database = database
        self._secret_key = secret_key
        self.ttl = ttl
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()

    def key(self, node_uuid: str) -> bytes | None:
        """The node's current key; None for a node never enrolled or revoked."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(node_uuid)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        with self.database.read_session() as session:
            generation = enrollment.key_generation(session, node_uuid=node_uuid)
        return self._remember(now, {node_uuid: generation})[node_uuid]

    def refresh(self, node_uuids: set[str]) -> None:
        """Read the keys of those of `node_uuids` not cached (or cached too long) in one query,
        so a batch of messages from many nodes costs one read rather than one each."""
        now = time.monotonic()
        with self._lock:
            stale = sorted(
                uuid
                for uuid in node_uuids
                if uuid not in self._cache or now - self._cache[uuid][0] >= self.ttl
            )
        if not stale:
            return
        with self.database.read_session() as session:
            generations = enrollment.key_generations(session, stale)
        self._remember(now, {uuid: generations.get(uuid) for uuid in stale})

    def _remember(self, now: float, generations: dict[str, int | None]) -> dict[str, bytes | None]:
        keys = {
            uuid: None if generation is None else node_key(self._secret_key, uuid, generation)
            for uuid, generation in generations.items()
        }
        with self._lock:
            if len(self._cache) + len(keys) > _MAX_CACHED:
                self._cache.clear()
            self._cache.update((uuid, (now, key)) for uuid, key in keys.items())
        return keys

    def current(self, node_uuid: str) -> bytes:
        """The node's current key, for what the control plane sends or reads from it.

        Raises:
            NodeUnreachableError: the node's credential was revoked (or it was never enrolled);
                nothing more is sent to it, as to any node not Deployed.
        """
        key = self.key(node_uuid)
        if key is None:
            raise NodeUnreachableError(node=node_uuid, state=NodeState.UNREACHABLE.value)
        return key

    def token(self, node: Node) -> NodeToken:
        """The token of the node's current credential, for its agent."""
        return NodeToken(
            node_uuid=node.uuid,
            key=node_key(self._secret_key, node.uuid, node.key_generation),
        )
