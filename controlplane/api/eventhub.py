"""One API process's end of the events fanout: a broker listener and the sockets it feeds.

Each API process (every gunicorn worker, on every host) binds its own transient queue to the
`controlplane.events` fanout exchange (`controlplane.events`), so every process hears every event,
and hands each one to the subscriptions of the sockets allowed to see it: a user's own containers
and actions, and every node. The listener is a kombu `ConsumerMixin` in a daemon thread (a
greenlet under gevent), started by the first subscription rather than at app creation, so a
process that never serves an events socket never opens the connection. It reconnects by itself
after a broker failure; events published while it is disconnected are lost, as they are for a
process that was not running. An event is handed on only if the control plane sealed it
(`controlplane.events`); anything else on the exchange is logged and dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from typing import Any

from kombu import Connection, Consumer, Queue
from kombu.mixins import ConsumerMixin

from controlplane.core import signing
from controlplane.core.errors import BrokerUnavailableError
from controlplane.core.messages import EVENTS_EXCHANGE, Event
from controlplane.events import EXCHANGE

log = logging.getLogger(__name__)

# Events held for one slow socket before it is dropped (its client reconnects and carries on).
SUBSCRIPTION_BACKLOG = 1000
# How long the listener blocks on the broker between checks for a stop.
_DRAIN_SECONDS = 0.25


class Subscription:
    """The events one socket may see, queued until its session sends them."""

    def __init__(self, hub: EventHub, owner_id: int) -> None:
        self.owner_id = owner_id
        self.overflowed = False
        self._hub = hub
        self._queue: queue.Queue[Event] = queue.Queue(SUBSCRIPTION_BACKLOG)

    def wants(self, event: Event) -> bool:
        """Users see their own objects; objects with no owner (nodes) are everyone's."""
        return event.owner_id is None or event.owner_id == self.owner_id

    def offer(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.overflowed = True

    def get(self, timeout: float) -> Event | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._hub.unsubscribe(self)


class _Listener(ConsumerMixin):
    def __init__(self, connection: Connection, hub: EventHub) -> None:
        self.connection = connection
        self.hub = hub
        self.ready = threading.Event()
        self._drains = 0

    def get_consumers(self, consumer: Callable[..., Consumer], channel: Any) -> list[Consumer]:
        own_queue = Queue(
            f"{EVENTS_EXCHANGE}.{uuid.uuid4()}",
            exchange=EXCHANGE,
            routing_key="",
            durable=False,
            auto_delete=True,
        )
        return [
            consumer(queues=[own_queue], callbacks=[self._on_message], accept=["json"], no_ack=True)
        ]

    def on_consume_ready(self, *_args: Any, **_kwargs: Any) -> None:
        self._drains = 0

    def on_iteration(self) -> None:
        # Ready only once a drain has run: kombu's Redis transport sends SUBSCRIBE on the first
        # drain, after on_consume_ready, and an event published before it would be missed.
        self._drains += 1
        if self._drains > 1:
            self.ready.set()

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        self.ready.clear()
        log.warning("events listener lost the broker, retrying in %.1f s: %s", interval, exc)

    def _on_message(self, body: Any, _message: Any) -> None:
        try:
            if not isinstance(body, dict):
                raise signing.SealError("not an object")
            opened, _ = signing.unseal(body, signing.EVENT_SUBJECT, self.hub.key_for)
            event = Event.from_dict(opened)
        except (TypeError, ValueError, signing.SealError) as exc:
            log.warning("dropped an event: %s", getattr(exc, "reason", exc))
            return
        self.hub.deliver(event)


class EventHub:
    """The subscriptions of one API process, and the listener that feeds them."""

    def __init__(self, broker_url: str, key: bytes) -> None:
        self.broker_url = broker_url
        self._key = key
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()
        self._listener: _Listener | None = None

    def subscribe(self, owner_id: int, *, timeout: float) -> Subscription:
        """A subscription for a socket of user `owner_id`, once the listener hears events.

        Raises:
            BrokerUnavailableError: the listener is not connected within `timeout` seconds.
        """
        listener = self._start_listener()
        if not listener.ready.wait(timeout):
            raise BrokerUnavailableError(detail="the events listener is not connected")
        subscription = Subscription(self, owner_id)
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def key_for(self, sealer: str) -> bytes | None:
        """The key an event's seal must match: the control plane's own, never a node's."""
        return self._key if sealer == signing.CONTROL_PLANE else None

    def deliver(self, event: Event) -> None:
        with self._lock:
            targets = [s for s in self._subscriptions if s.wants(event)]
        for subscription in targets:
            subscription.offer(event)

    def _start_listener(self) -> _Listener:
        with self._lock:
            if self._listener is None:
                self._listener = _Listener(Connection(self.broker_url), self)
                thread = threading.Thread(
                    target=self._listener.run,
                    kwargs={"safety_interval": _DRAIN_SECONDS},
                    name="events-listener",
                    daemon=True,
                )
                thread.start()
            return self._listener
