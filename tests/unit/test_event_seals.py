"""The events an API process relays to clients: only those the control plane sealed (no broker:
the listener's message handler is fed directly)."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.api.eventhub import EventHub, _Listener
from controlplane.core import signing
from controlplane.core.messages import Event

KEY = signing.events_key(b"s" * 32)
EVENT = Event(
    type="container",
    action="update",
    uuid="e",
    object_uuid="c",
    state="Stopped",
    datetime="2026-12-01T00:00:00Z",
    owner_id=1,
)


class Hub(EventHub):
    """An EventHub that keeps what it would deliver."""

    def __init__(self) -> None:
        super().__init__("redis://127.0.0.1:1/0", KEY)
        self.delivered: list[Event] = []

    def deliver(self, event: Event) -> None:
        self.delivered.append(event)


def heard(body: Any) -> list[Event]:
    hub = Hub()
    _Listener(None, hub)._on_message(body, None)  # type: ignore[arg-type]
    return hub.delivered


def sealed_by(key: bytes, sealer: str = signing.CONTROL_PLANE) -> dict[str, Any]:
    return signing.sealed(key, sealer, signing.EVENT_SUBJECT, EVENT.to_dict())


def test_an_event_the_control_plane_sealed_is_delivered() -> None:
    assert heard(sealed_by(KEY)) == [EVENT]


@pytest.mark.parametrize(
    "body",
    [
        EVENT.to_dict(),  # what any broker client can publish
        sealed_by(b"n" * 32),  # a node's key, say
        sealed_by(KEY, sealer="6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01"),
        {**sealed_by(KEY), "state": "Running"},
        "not an object",
    ],
)
def test_anything_else_on_the_exchange_is_dropped(body: Any) -> None:
    assert heard(body) == []
