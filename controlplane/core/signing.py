"""Sealed messages between the control plane and its nodes (docs/architecture.md §5.9).

Anyone who can reach the broker can put a message on any queue, so no end of the channel obeys a
message for where it found it. Every message carries a *seal*: an HMAC-SHA256, under the key of
the node it is from or to, of its subject (direction and task name), that node's uuid, the time
it was sealed, a random nonce and its body in canonical JSON. A seal proves which node's key made
it, so the reporter knows who sent a report (and applies it only to that node's containers), and
an agent knows a task came from the control plane and was meant for it.

A node's key is derived from the control plane's secret key, the node's uuid and the node's key
generation (`node_key`), so the database holds no secret: rotating a node's credential is a new
generation, revoking it a flag. The operator hands the agent its key in a token
(`NodeToken`), printed by `controlplane node add`.

Freshness (the time and the nonce) is checked by whoever keeps a memory of nonces (the reporter,
in Redis); the agent checks only the seal, since every operation it runs is fenced by a claim
anyway (architecture §5.2), which a replayed task cannot win.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# Where a sealed message carries its seal: a task's keyword argument, a result's key.
SEAL_FIELD = "seal"
# What a message is, signed with it, so a seal made for one kind of message (or one direction)
# is worth nothing on another.
TO_NODE = "to-node"
FROM_NODE = "from-node"
# How far a seal's time may be from the receiver's clock: it bounds how long the nonces must be
# remembered, and how long a message may wait in a queue (a report older than this is refused as
# a replay; the next relist carries what it said).
SEAL_WINDOW_NS = 300 * 1_000_000_000
# The name in the seals of what the control plane makes for itself (the events its API
# processes relay to clients), which no node's key may make.
CONTROL_PLANE = "00000000-0000-0000-0000-000000000000"
EVENT_SUBJECT = "control-plane:event"
_TOKEN_PREFIX = "cpn1"
_KEY_CONTEXT = b"controlplane node key v1"
_EVENTS_CONTEXT = b"controlplane events key v1"


class SealError(Exception):
    """A message that must not be obeyed: unsealed, malformed, badly signed or stale."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Seal:
    node_uuid: str
    sealed_ns: int
    nonce: str
    mac: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NodeToken:
    """A node's credential: its uuid and its key, as `cpn1.<uuid>.<base64url key>`."""

    node_uuid: str
    key: bytes = field(repr=False)

    def key_for(self, node_uuid: str) -> bytes | None:
        """The key, for a seal naming this node; None for any other (`unseal`)."""
        return self.key if node_uuid == self.node_uuid else None

    def __str__(self) -> str:
        key = base64.urlsafe_b64encode(self.key).rstrip(b"=").decode("ascii")
        return f"{_TOKEN_PREFIX}.{self.node_uuid}.{key}"

    @classmethod
    def parse(cls, text: str) -> NodeToken:
        """Raises ValueError for anything but a token `__str__` could have written."""
        prefix, _, rest = text.strip().partition(".")
        node, _, key = rest.partition(".")
        if prefix != _TOKEN_PREFIX or not node or not key:
            raise ValueError("not a node token (cpn1.<node uuid>.<key>)")
        try:
            node_uuid = str(uuid.UUID(node))
            raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
        except (ValueError, binascii.Error):
            raise ValueError("not a node token (cpn1.<node uuid>.<key>)") from None
        if len(raw) != hashlib.sha256().digest_size:
            raise ValueError("a node token's key is 32 bytes")
        return cls(node_uuid=node_uuid, key=raw)


def node_key(secret_key: bytes, node_uuid: str, generation: int) -> bytes:
    """The key of one generation of a node's credential."""
    message = b"\0".join([_KEY_CONTEXT, node_uuid.encode("ascii"), str(generation).encode()])
    return hmac.new(secret_key, message, hashlib.sha256).digest()


def events_key(secret_key: bytes) -> bytes:
    """The key of the events the API and the reporter publish for the API processes."""
    return hmac.new(secret_key, _EVENTS_CONTEXT, hashlib.sha256).digest()


def seal(
    key: bytes, node_uuid: str, subject: str, body: Mapping[str, Any], *, now_ns: int | None = None
) -> dict[str, Any]:
    """The seal of `body` as `subject` (a direction and a task name), in its wire form."""
    sealed_ns = time.time_ns() if now_ns is None else now_ns
    nonce = secrets.token_hex(16)
    mac = _mac(key, node_uuid, subject, sealed_ns, nonce, body)
    return Seal(node_uuid=node_uuid, sealed_ns=sealed_ns, nonce=nonce, mac=mac).to_dict()


def sealed(key: bytes, node_uuid: str, subject: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with its seal added under `SEAL_FIELD`, ready to send."""
    return {**body, SEAL_FIELD: seal(key, node_uuid, subject, body)}


def unseal(
    message: Mapping[str, Any], subject: str, key_for: Callable[[str], bytes | None]
) -> tuple[dict[str, Any], Seal]:
    """The body of a sealed message and its seal, once the seal is checked against the key
    `key_for` gives for the node it names (None: a node unknown, revoked, or not this one).
    Freshness is the caller's to check (`check_fresh`).

    Raises:
        SealError: the message must not be obeyed.
    """
    body = {name: value for name, value in message.items() if name != SEAL_FIELD}
    read = read_seal(message.get(SEAL_FIELD))
    key = key_for(read.node_uuid)
    if key is None:
        raise SealError(f"node {read.node_uuid} has no credential here (not enrolled, revoked)")
    verify(key, subject, body, read)
    return body, read


def read_seal(data: object) -> Seal:
    """The seal a message carries, checked only for its shape.

    Raises:
        SealError: no seal, or not one of the shape `seal` writes.
    """
    if data is None:
        raise SealError("the message is not sealed")
    if not isinstance(data, Mapping):
        raise SealError("the seal is malformed")
    try:
        read = Seal(
            node_uuid=str(uuid.UUID(data["node_uuid"])),
            sealed_ns=data["sealed_ns"],
            nonce=data["nonce"],
            mac=data["mac"],
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise SealError("the seal is malformed") from None
    if not (
        type(read.sealed_ns) is int and isinstance(read.nonce, str) and isinstance(read.mac, str)
    ):
        raise SealError("the seal is malformed")
    return read


def verify(key: bytes, subject: str, body: Mapping[str, Any], sealed: Seal) -> None:
    """Check that `sealed` was made with `key` for this subject and body.

    Raises:
        SealError: it was not (a forgery, another node's key, a revoked or rotated credential,
            or a body changed on the way).
    """
    expected = _mac(key, sealed.node_uuid, subject, sealed.sealed_ns, sealed.nonce, body)
    if not hmac.compare_digest(expected, sealed.mac):
        raise SealError(f"the seal does not match node {sealed.node_uuid}'s key")


def check_fresh(sealed: Seal, *, now_ns: int, window_ns: int = SEAL_WINDOW_NS) -> None:
    """Raises SealError when the seal's time is further than `window_ns` from `now_ns`."""
    if abs(now_ns - sealed.sealed_ns) > window_ns:
        raise SealError(
            f"sealed {(now_ns - sealed.sealed_ns) / 1e9:.0f} s from now, outside the "
            f"{window_ns // 1_000_000_000} s window (a replay, or a node with a wrong clock)"
        )


def canonical(body: Mapping[str, Any]) -> bytes:
    """The one byte form of a JSON body, whoever serialised it and in whatever key order."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(
    key: bytes, node_uuid: str, subject: str, sealed_ns: int, nonce: str, body: Mapping[str, Any]
) -> str:
    head = json.dumps([subject, node_uuid, sealed_ns, nonce], ensure_ascii=True).encode()
    return hmac.new(key, head + b"\n" + canonical(body), hashlib.sha256).hexdigest()
