"""The API's end of the log streams: a Redis pub/sub subscription per log socket.

The node agent publishes a stream's lines to `messages.log_channel(stream_id)`
(`workers.logstream`). The API subscribes *before* asking the agent to stream, so no line is
published to nobody, and unsubscribing is the whole of "stop": the agent's next publish reaches no
subscriber and it ends the stream. This needs Redis as the broker, as the result store of the
REST logs request already does.

Every message is sealed by the node (`controlplane.core.signing`), for this stream and with a
sequence number, so a broker client cannot put a line into someone's stream, nor repeat one; a
message that fails is logged and dropped. Whoever holds the broker's password can still read the
lines (docs/architecture.md §5.9 says why that is the line drawn).
"""

from __future__ import annotations

import json
import logging

import redis

from controlplane.core import signing
from controlplane.core.errors import BrokerUnavailableError
from controlplane.core.messages import LogStreamMessage, log_channel, log_subject
from controlplane.core.signing import NodeToken
from controlplane.keyring import Keyring

log = logging.getLogger(__name__)


class LogSubscription:
    """Messages of one stream, read by the socket session that owns it."""

    def __init__(self, pubsub: redis.client.PubSub, *, stream_id: str, node_uuid: str, key: bytes):
        self._pubsub = pubsub
        self._subject = log_subject(stream_id)
        self._node_uuid = node_uuid
        self._credential = NodeToken(node_uuid=node_uuid, key=key)
        self._seq = -1

    def get(self, timeout: float) -> LogStreamMessage | None:
        """The next message, or None after `timeout` seconds without one.

        Raises:
            BrokerUnavailableError: the connection to Redis was lost.
        """
        try:
            raw = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        except redis.RedisError as exc:
            raise BrokerUnavailableError(detail=str(exc)) from exc
        if raw is None:
            return None
        return self._opened(raw["data"])

    def _opened(self, data: bytes) -> LogStreamMessage | None:
        """The message, if its node sealed it for this stream after the last one; else None."""
        try:
            body, _ = signing.unseal(json.loads(data), self._subject, self._credential.key_for)
            seq = body["seq"]
            if type(seq) is not int or seq <= self._seq:
                raise signing.SealError(f"out of sequence ({seq!r} after {self._seq})")
            message = LogStreamMessage.from_dict(body["message"])
        except (ValueError, TypeError, KeyError, AttributeError, signing.SealError) as exc:
            reason = exc.reason if isinstance(exc, signing.SealError) else f"malformed: {exc!r}"
            log.warning("log stream message refused (node %s): %s", self._node_uuid, reason)
            return None
        self._seq = seq
        return message

    def close(self) -> None:
        self._pubsub.close()


class LogChannels:
    def __init__(self, url: str, keyring: Keyring) -> None:
        self._client = redis.Redis.from_url(url)
        self._keyring = keyring

    def subscribe(self, stream_id: str, node_uuid: str) -> LogSubscription:
        """Subscribe to a stream's channel, for the messages `node_uuid` seals.

        Raises:
            BrokerUnavailableError: Redis refused the subscription.
            NodeUnreachableError: the node's credential was revoked.
        """
        key = self._keyring.current(node_uuid)
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(log_channel(stream_id))
        except redis.RedisError as exc:
            pubsub.close()
            raise BrokerUnavailableError(detail=str(exc)) from exc
        return LogSubscription(pubsub, stream_id=stream_id, node_uuid=node_uuid, key=key)
