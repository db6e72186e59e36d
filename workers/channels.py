"""The sending end of a stream's Redis pub/sub channel, from this node to one API socket: a log
stream's lines (`workers.logstream`) or an exec's output (`workers.execstream`).

Each message is sealed with the node's key for that one stream (its subject names the kind of
stream and its id) and numbered, so the API takes no message a broker client made up, repeated
or moved from another stream (`controlplane.api.logchannels`). PUBLISH answers how many
subscribers received a message: none means the API socket is gone (its client left, or its API
process died), which is how a stream learns to stop without any message coming back.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import redis

from controlplane.core import signing
from controlplane.core.signing import NodeToken


class ListenerGoneError(Exception):
    """Nobody is subscribed to the stream's channel any more: the stream must stop."""


class Sendable(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class NodeChannel:
    """One stream's channel `name`, whose messages this node seals as `subject`; `tick` is what
    it sends when it has been quiet for `tick_seconds` (`keepalive`)."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        subject: str,
        token: NodeToken,
        *,
        tick: Sendable,
        tick_seconds: float,
    ) -> None:
        self._client = client
        self._name = name
        self._subject = subject
        self._token = token
        self._tick = tick
        self._tick_seconds = tick_seconds
        self._seq = 0
        self._last_sent = time.monotonic()

    def send(self, message: Sendable) -> None:
        """Publish `message`; raises ListenerGoneError when no subscriber received it."""
        body = {"message": message.to_dict(), "seq": self._seq}
        self._seq += 1
        sealed = signing.sealed(self._token.key, self._token.node_uuid, self._subject, body)
        receivers = self._client.publish(self._name, json.dumps(sealed))
        self._last_sent = time.monotonic()
        if receivers == 0:
            raise ListenerGoneError(self._name)

    def keepalive(self) -> None:
        """Tick if nothing was sent for a tick interval, so that each end learns the other is
        still there (the API tells a dead agent from a quiet stream by the ticks)."""
        if time.monotonic() - self._last_sent >= self._tick_seconds:
            self.send(self._tick)
