"""The API's end of the log streams: a Redis pub/sub subscription per log socket.

The node agent publishes a stream's lines to `messages.log_channel(stream_id)`
(`workers.logstream`). The API subscribes *before* asking the agent to stream, so no line is
published to nobody, and unsubscribing is the whole of "stop": the agent's next publish reaches no
subscriber and it ends the stream. This needs Redis as the broker, as the result store of the
REST logs request already does.
"""

from __future__ import annotations

import json

import redis

from controlplane.core.errors import BrokerUnavailableError
from controlplane.core.messages import LogStreamMessage, log_channel


class LogSubscription:
    """Messages of one stream, read by the socket session that owns it."""

    def __init__(self, pubsub: redis.client.PubSub) -> None:
        self._pubsub = pubsub

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
        return LogStreamMessage.from_dict(json.loads(raw["data"]))

    def close(self) -> None:
        self._pubsub.close()


class LogChannels:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)

    def subscribe(self, stream_id: str) -> LogSubscription:
        """Subscribe to a stream's channel.

        Raises:
            BrokerUnavailableError: Redis refused the subscription.
        """
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(log_channel(stream_id))
        except redis.RedisError as exc:
            pubsub.close()
            raise BrokerUnavailableError(detail=str(exc)) from exc
        return LogSubscription(pubsub)
