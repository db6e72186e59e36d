"""State-change events: built where a state is written, published on the broker's fanout exchange.

The API (when it accepts a create or an action) and the reporter (when it applies a report) are
the only writers of container, action and node state, so they are the only producers. Events go
to the kombu fanout exchange `controlplane.events`; every API process binds its own transient
queue to it (`controlplane.api.eventhub`) and hands each event to the sockets allowed to see it.
kombu maps a fanout exchange to PUBLISH/SUBSCRIBE on Redis and to a real fanout exchange on
RabbitMQ, so this works on either broker, and nothing is stored: an API process that is not
listening when an event is published never sees it (the Tutum events stream was best-effort too).

Every event is sealed with a key derived from the secret key (`core.signing.events_key`), which
only the API and the reporter hold: whoever else reaches the broker (a node's agent) cannot put
an event into a client's stream. A copy of a real event repeated is not refused; it only says
again what was true.

Publishing is best-effort for the same reason: a broker that refuses an event is logged and never
fails the request or the report that caused it, since the state change itself is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from celery import Celery
from kombu import Exchange
from kombu.exceptions import KombuError

from controlplane.core import signing
from controlplane.core.lifecycle import State
from controlplane.core.messages import EVENTS_EXCHANGE, Event
from controlplane.db.actions import action_object
from controlplane.db.engine import new_uuid
from controlplane.db.models import ActionRecord, Container, Node, Service, Stack
from controlplane.db.observations import ReportOutcome

log = logging.getLogger(__name__)

CREATE = "create"
UPDATE = "update"
DELETE = "delete"

# Transient: an event nobody is listening for is worth nothing later.
EXCHANGE = Exchange(EVENTS_EXCHANGE, type="fanout", durable=False, delivery_mode="transient")
# One immediate retry reconnects a pooled connection the broker dropped; no sleeping, because a
# request or a report waits on this and an event is not worth delaying either for.
_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_event(container: Container, action: str) -> Event:
    """A container was created (`create`) or changed state (`update`)."""
    parents = [["node", container.node.uuid], *_service_parents(container.service)]
    return _object_event(
        "container", container.uuid, container.owner_id, action, container.state, parents
    )


def _service_parents(service: Service | None) -> list[list[str]]:
    if service is None:
        return []
    stack = [["stack", service.stack.uuid]] if service.stack is not None else []
    return [["service", service.uuid], *stack]


def service_event(service: Service, action: str, state: str) -> Event:
    """A service was created, changed state (derived from its containers') or terminated."""
    parents = [["stack", service.stack.uuid]] if service.stack is not None else []
    return _object_event("service", service.uuid, service.owner_id, action, state, parents)


def stack_event(stack: Stack, action: str, state: str) -> Event:
    return _object_event("stack", stack.uuid, stack.owner_id, action, state, [])


def _object_event(
    kind: str, uuid: str, owner_id: int, action: str, state: str, parents: list[list[str]]
) -> Event:
    return Event(
        type=kind,
        action=action,
        uuid=new_uuid(),
        object_uuid=uuid,
        state=state,
        datetime=_now_iso(),
        owner_id=owner_id,
        parents=parents,
    )


def container_change_event(container: Container) -> Event:
    """A container's new state; reaching Terminated is its `delete` (the record stays)."""
    terminated = container.state == State.TERMINATED.value
    return container_event(container, DELETE if terminated else UPDATE)


def action_event(record: ActionRecord, action: str) -> Event:
    """An Action was opened (`create`) or finished (`update`); its parent is its object."""
    return Event(
        type="action",
        action=action,
        uuid=new_uuid(),
        object_uuid=record.uuid,
        state=record.state,
        datetime=_now_iso(),
        owner_id=record.owner_id,
        parents=[list(action_object(record))],
    )


def node_event(node: Node, action: str) -> Event:
    """A node registered (`create`) or changed state (`update`); every user sees nodes."""
    return Event(
        type="node",
        action=action,
        uuid=new_uuid(),
        object_uuid=node.uuid,
        state=node.state,
        datetime=_now_iso(),
    )


def report_events(outcome: ReportOutcome) -> list[Event]:
    """What an applied report tells clients: the container's new state first, then the Action it
    closed, the order in which a client waiting on either expects them."""
    found: list[Event] = []
    if outcome.changed and outcome.container is not None:
        found.append(container_change_event(outcome.container))
    if outcome.finished_action is not None:
        found.append(action_event(outcome.finished_action, UPDATE))
    return found


class EventPublisher:
    """Publishes events through a Celery app's pooled broker connections."""

    def __init__(self, celery: Celery, key: bytes) -> None:
        self.celery = celery
        self.key = key

    def publish(self, events: Iterable[Event]) -> None:
        batch = list(events)
        if not batch:
            return
        try:
            with self.celery.producer_or_acquire() as producer:
                for event in batch:
                    producer.publish(
                        signing.sealed(
                            self.key, signing.CONTROL_PLANE, signing.EVENT_SUBJECT, event.to_dict()
                        ),
                        exchange=EXCHANGE,
                        routing_key="",
                        declare=[EXCHANGE],
                        serializer="json",
                        retry=True,
                        retry_policy=_RETRY,
                    )
        except (KombuError, OSError, RuntimeError) as exc:
            log.warning("could not publish %d event(s): %s", len(batch), exc)
