"""The API's end of the streams a node sends to one socket: a Redis pub/sub subscription per log
socket (`controlplane.api.logstream`) and per exec socket (`controlplane.api.execstream`).

The node agent publishes a stream's messages to the stream's channel (`messages.log_channel`,
`messages.exec_channel`; `workers.channels`). The API subscribes *before* asking the agent to
stream, so no message is published to nobody, and unsubscribing is the whole of "stop": the
agent's next publish reaches no subscriber and it ends the stream. This needs Redis as the
broker, as the result store of the REST logs request already does.

Every message is sealed by the node (`controlplane.core.signing`), for this one stream (the
subject names the kind of stream and its id) and with a sequence number, so a broker client
cannot put a message into someone's stream, move one from another stream, nor repeat one; a
message that fails is logged and dropped. Whoever holds the broker's password can still read
the messages (docs/architecture.md §5.9 says why that is the line drawn).
"""

from __future__ import annotations

import json
import logging
from typing import Generic, TypeVar

import redis

from controlplane.core import signing
from controlplane.core.errors import BrokerUnavailableError
from controlplane.core.messages import (
    ExecStreamMessage,
    LogStreamMessage,
    exec_channel,
    exec_subject,
    log_channel,
    log_subject,
)
from controlplane.core.signing import NodeToken
from controlplane.keyring import Keyring

log = logging.getLogger(__name__)

M = TypeVar("M", LogStreamMessage, ExecStreamMessage)


class NodeSubscription(Generic[M]):
    """Messages of one stream, of the class `message`, that `node_uuid` sealed as `subject`,
    read by the socket session that owns the subscription; `kind` names the stream in the log."""

    kind = "stream"

    def __init__(
        self,
        pubsub: redis.client.PubSub,
        *,
        subject: str,
        node_uuid: str,
        key: bytes,
        message: type[M],
    ) -> None:
        self._pubsub = pubsub
        self._subject = subject
        self._node_uuid = node_uuid
        self._credential = NodeToken(node_uuid=node_uuid, key=key)
        self._message: type[M] = message
        self._seq = -1

    def get(self, timeout: float) -> M | None:
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

    def _opened(self, data: bytes) -> M | None:
        """The message, if its node sealed it for this stream after the last one; else None."""
        try:
            body, _ = signing.unseal(json.loads(data), self._subject, self._credential.key_for)
            seq = body["seq"]
            if type(seq) is not int or seq <= self._seq:
                raise signing.SealError(f"out of sequence ({seq!r} after {self._seq})")
            message = self._message.from_dict(body["message"])
        except (ValueError, TypeError, KeyError, AttributeError, signing.SealError) as exc:
            reason = exc.reason if isinstance(exc, signing.SealError) else f"malformed: {exc!r}"
            log.warning("%s message refused (node %s): %s", self.kind, self._node_uuid, reason)
            return None
        self._seq = seq
        return message

    def close(self) -> None:
        self._pubsub.close()


class LogSubscription(NodeSubscription[LogStreamMessage]):
    """The lines of one log stream."""

    kind = "log stream"

    def __init__(self, pubsub: redis.client.PubSub, *, stream_id: str, node_uuid: str, key: bytes):
        super().__init__(
            pubsub,
            subject=log_subject(stream_id),
            node_uuid=node_uuid,
            key=key,
            message=LogStreamMessage,
        )


class ExecSubscription(NodeSubscription[ExecStreamMessage]):
    """The output and the end of one exec."""

    kind = "exec"

    def __init__(self, pubsub: redis.client.PubSub, *, stream_id: str, node_uuid: str, key: bytes):
        super().__init__(
            pubsub,
            subject=exec_subject(stream_id),
            node_uuid=node_uuid,
            key=key,
            message=ExecStreamMessage,
        )


class LogChannels:
    def __init__(self, url: str, keyring: Keyring) -> None:
        self._client = redis.Redis.from_url(url)
        self._keyring = keyring

    def subscribe(self, stream_id: str, node_uuid: str) -> LogSubscription:
        """Subscribe to a log stream's channel, for the messages `node_uuid` seals.

        Raises:
            BrokerUnavailableError: Redis refused the subscription.
            NodeUnreachableError: the node's credential was revoked.
        """
        key = self._keyring.current(node_uuid)
        pubsub = self._subscribed(log_channel(stream_id))
        return LogSubscription(pubsub, stream_id=stream_id, node_uuid=node_uuid, key=key)

    def subscribe_exec(self, stream_id: str, node_uuid: str) -> ExecSubscription:
        """Subscribe to an exec's channel, for the messages `node_uuid` seals.

        Raises:
            BrokerUnavailableError: Redis refused the subscription.
            NodeUnreachableError: the node's credential was revoked.
        """
        key = self._keyring.current(node_uuid)
        pubsub = self._subscribed(exec_channel(stream_id))
        return ExecSubscription(pubsub, stream_id=stream_id, node_uuid=node_uuid, key=key)

    def _subscribed(self, channel: str) -> redis.client.PubSub:
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(channel)
        except redis.RedisError as exc:
            pubsub.close()
            raise BrokerUnavailableError(detail=str(exc)) from exc
        return pubsub
