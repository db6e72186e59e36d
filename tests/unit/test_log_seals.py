"""Log stream messages are sealed by the node for one stream and numbered: the API's end takes
only those, in order, so no broker client can put a line into a stream or repeat one (no Redis:
the agent's sending end publishes into a stand-in that the API's end reads from)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.api.logchannels import LogSubscription
from controlplane.core import signing
from controlplane.core.messages import LOG_LINE, LogStreamMessage, log_subject
from controlplane.core.signing import NodeToken
from workers.logstream import LogChannel

NODE = NodeToken(node_uuid="6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01", key=b"k" * 32)
OTHER = NodeToken(node_uuid="0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b", key=b"o" * 32)
STREAM = "stream-1"


class Wire:
    """Stands in for Redis pub/sub: what is published is what the subscriber gets next."""

    def __init__(self) -> None:
        self.published: list[bytes] = []

    def publish(self, channel: str, data: str) -> int:
        self.published.append(data.encode())
        return 1

    def get_message(self, *, ignore_subscribe_messages: bool, timeout: float) -> Any:
        return {"data": self.published.pop(0)} if self.published else None


def line(text: str) -> LogStreamMessage:
    return LogStreamMessage(kind=LOG_LINE, stream="stdout", text=text, observed_ns=1)


@pytest.fixture
def wire() -> Wire:
    return Wire()


def subscription(wire: Wire) -> LogSubscription:
    return LogSubscription(wire, stream_id=STREAM, node_uuid=NODE.node_uuid, key=NODE.key)  # type: ignore[arg-type]


def test_the_nodes_lines_arrive_in_order(wire: Wire) -> None:
    sender = LogChannel(wire, STREAM, NODE)  # type: ignore[arg-type]
    reader = subscription(wire)
    for text in ("one", "two"):
        sender.send(line(text))
    assert [reader.get(0), reader.get(0), reader.get(0)] == [line("one"), line("two"), None]


def forged(text: str, *, token: NodeToken = NODE, stream: str = STREAM, seq: int = 0) -> bytes:
    body = {"message": line(text).to_dict(), "seq": seq}
    return json.dumps(
        signing.sealed(token.key, token.node_uuid, log_subject(stream), body)
    ).encode()


@pytest.mark.parametrize(
    "data",
    [
        json.dumps({"message": line("unsealed").to_dict(), "seq": 0}).encode(),
        forged("another node's key", token=OTHER),
        forged("sealed for another stream", stream="stream-2"),
        forged("with no number").replace(b'"seq": 0', b'"seq": "0"'),
        b"not json",
        b"[]",
    ],
)
def test_a_message_the_node_did_not_seal_for_this_stream_is_dropped(
    wire: Wire, data: bytes
) -> None:
    wire.published.append(data)
    assert subscription(wire).get(0) is None


def test_a_repeated_or_older_message_is_dropped(wire: Wire) -> None:
    sender = LogChannel(wire, STREAM, NODE)  # type: ignore[arg-type]
    reader = subscription(wire)
    sender.send(line("one"))
    first = wire.published[0]
    assert reader.get(0) == line("one")
    wire.published.append(first)
    assert reader.get(0) is None
    sender.send(line("two"))
    assert reader.get(0) == line("two")
