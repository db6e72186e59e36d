"""Seals and node tokens (controlplane.core.signing): what a seal proves, and what it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.core import signing
from controlplane.core.signing import NodeToken, SealError

NODE = "6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01"
OTHER = "0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
SECRET = b"s" * 32
KEY = signing.node_key(SECRET, NODE, 1)
SUBJECT = f"{signing.FROM_NODE}:controlplane.report.container"
BODY = {"report": {"container_uuid": "c", "state": "Running", "observed_ns": 12, "ports": []}}


def keys(node_uuid: str) -> bytes | None:
    return KEY if node_uuid == NODE else None


def wire(message: dict[str, Any]) -> dict[str, Any]:
    """The message as the receiver gets it: through JSON, as Celery's serializer sends it."""
    return json.loads(json.dumps(message))


def test_a_sealed_message_opens_to_its_body_and_names_its_node() -> None:
    body, sealed = signing.unseal(wire(signing.sealed(KEY, NODE, SUBJECT, BODY)), SUBJECT, keys)
    assert body == BODY
    assert sealed.node_uuid == NODE


def test_the_body_is_sealed_whatever_order_its_keys_arrive_in() -> None:
    message = signing.sealed(KEY, NODE, SUBJECT, {"b": 1, "a": {"y": 2, "x": 3}})
    reordered = {signing.SEAL_FIELD: message[signing.SEAL_FIELD], "a": {"x": 3, "y": 2}, "b": 1}
    assert signing.unseal(reordered, SUBJECT, keys)[0] == {"a": {"x": 3, "y": 2}, "b": 1}


def tampered(message: dict[str, Any]) -> dict[str, Any]:
    return {**message, "report": {**message["report"], "state": "Stopped"}}


def another_nodes_name(message: dict[str, Any]) -> dict[str, Any]:
    return {**message, signing.SEAL_FIELD: {**message[signing.SEAL_FIELD], "node_uuid": OTHER}}


def later(message: dict[str, Any]) -> dict[str, Any]:
    seal = message[signing.SEAL_FIELD]
    return {**message, signing.SEAL_FIELD: {**seal, "sealed_ns": seal["sealed_ns"] + 1}}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (tampered, "does not match"),
        (another_nodes_name, "no credential here"),
        (later, "does not match"),
        (lambda m: {k: v for k, v in m.items() if k != signing.SEAL_FIELD}, "not sealed"),
        (lambda m: {**m, signing.SEAL_FIELD: "a string"}, "malformed"),
        (lambda m: {**m, signing.SEAL_FIELD: {**m[signing.SEAL_FIELD], "mac": 7}}, "malformed"),
        (lambda m: {**m, signing.SEAL_FIELD: {"node_uuid": "nope"}}, "malformed"),
    ],
)
def test_a_changed_or_unsealed_message_is_refused(change: Any, reason: str) -> None:
    message = wire(signing.sealed(KEY, NODE, SUBJECT, BODY))
    with pytest.raises(SealError, match=reason):
        signing.unseal(change(message), SUBJECT, keys)


def test_a_seal_is_worth_nothing_as_another_kind_of_message_or_the_other_way() -> None:
    message = signing.sealed(KEY, NODE, SUBJECT, BODY)
    for subject in (
        f"{signing.TO_NODE}:controlplane.report.container",
        f"{signing.FROM_NODE}:controlplane.report.node",
    ):
        with pytest.raises(SealError, match="does not match"):
            signing.unseal(message, subject, keys)


def test_another_generation_or_another_secret_is_another_key() -> None:
    assert signing.node_key(SECRET, NODE, 2) != KEY
    assert signing.node_key(b"t" * 32, NODE, 1) != KEY
    assert signing.node_key(SECRET, OTHER, 1) != KEY
    rotated = signing.sealed(signing.node_key(SECRET, NODE, 2), NODE, SUBJECT, BODY)
    with pytest.raises(SealError, match="does not match"):
        signing.unseal(rotated, SUBJECT, keys)


def test_a_seal_outside_the_window_is_stale_either_way() -> None:
    sealed = signing.read_seal(signing.seal(KEY, NODE, SUBJECT, BODY, now_ns=10**18))
    window = signing.SEAL_WINDOW_NS
    signing.check_fresh(sealed, now_ns=10**18 + window)
    signing.check_fresh(sealed, now_ns=10**18 - window)
    for now_ns in (10**18 + window + 1, 10**18 - window - 1):
        with pytest.raises(SealError, match="window"):
            signing.check_fresh(sealed, now_ns=now_ns)


def test_two_seals_of_one_body_have_different_nonces() -> None:
    first, second = (signing.seal(KEY, NODE, SUBJECT, BODY) for _ in range(2))
    assert first["nonce"] != second["nonce"]


def test_a_token_round_trips_and_hides_its_key() -> None:
    token = NodeToken(node_uuid=NODE, key=KEY)
    text = str(token)
    assert text.startswith(f"cpn1.{NODE}.")
    assert NodeToken.parse(f"  {text}\n") == token
    assert KEY.hex() not in repr(token)
    assert (token.key_for(NODE), token.key_for(OTHER)) == (KEY, None)


@pytest.mark.parametrize(
    "text",
    ["", "cpn1", f"cpn2.{NODE}.AAAA", f"cpn1..{'A' * 43}", f"cpn1.{NODE}.", f"cpn1.{NODE}.AAAA"],
)
def test_anything_but_a_token_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="token"):
        NodeToken.parse(text)
