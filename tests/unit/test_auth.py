"""Authorization header parsing (pure) and API key verification (against the database)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.credentials import Credentials, parse_authorization
from controlplane.core.errors import InvalidInputError
from controlplane.db import users
from controlplane.db.models import ApiKey


def basic(pair: str, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(pair.encode()).decode()}"


ALICE = Credentials(username="alice", key="k3y")


@pytest.mark.parametrize(
    "header",
    [
        "ApiKey alice:k3y",
        "Apikey alice:k3y",
        "apikey alice:k3y",
        "APIKEY alice:k3y",
        "  ApiKey   alice:k3y  ",
        basic("alice:k3y"),
        basic("alice:k3y", scheme="basic"),
        basic("alice:k3y", scheme="BASIC"),
    ],
)
def test_every_header_form_the_sdks_send_is_understood(header: str) -> None:
    assert parse_authorization(header) == ALICE


def test_a_key_may_contain_colons_after_the_first() -> None:
    assert parse_authorization("ApiKey alice:a:b") == Credentials("alice", "a:b")


def test_basic_credentials_may_be_non_ascii_utf8() -> None:
    assert parse_authorization(basic("zoë:k3y")) == Credentials("zoë", "k3y")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "ApiKey",
        "ApiKey ",
        "ApiKey alice",
        "ApiKey alice:",
        "ApiKey :k3y",
        "ApiKey :",
        "Basic !!!not-base64!!!",
        "Basic YWxpY2U6a",  # truncated base64 (bad padding)
        "Basic " + base64.b64encode(b"\xff\xfe:k").decode(),  # not UTF-8
        basic("alicek3y"),
        basic(":k3y"),
        basic("alice:"),
        "Bearer alice:k3y",
        "Token alice:k3y",
        "alice:k3y",
    ],
)
def test_absent_or_malformed_headers_give_no_credentials(header: str | None) -> None:
    assert parse_authorization(header) is None


# --- accounts --------------------------------------------------------------------------------


def test_a_key_is_stored_only_as_its_sha256_digest(session: Session) -> None:
    user, created = users.ensure_user(session, "alice")
    key = users.issue_key(session, user)
    stored = session.scalars(select(ApiKey.key_hash).where(ApiKey.user_id == user.id)).all()
    assert created
    assert stored == [hashlib.sha256(key.encode()).hexdigest()]
    assert key not in stored
    assert len(key) == 64


def test_ensure_user_returns_the_existing_user_the_second_time(session: Session) -> None:
    first, created_first = users.ensure_user(session, "alice")
    again, created_again = users.ensure_user(session, "alice")
    assert (created_first, created_again) == (True, False)
    assert again.id == first.id


@pytest.mark.parametrize("username", ["", "-alice", "a b", "a/b", "a" * 151])
def test_an_unusable_username_is_refused(session: Session, username: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        users.ensure_user(session, username)
    assert refused.value.field == "username"


def test_the_right_user_and_key_authenticate(session: Session) -> None:
    user, _ = users.ensure_user(session, "alice")
    key = users.issue_key(session, user)
    found = users.authenticate(session, Credentials("alice", key))
    assert found is not None
    assert found.id == user.id


def test_every_key_of_a_user_authenticates(session: Session) -> None:
    user, _ = users.ensure_user(session, "alice")
    keys = [users.issue_key(session, user) for _ in range(2)]
    assert keys[0] != keys[1]
    for key in keys:
        found = users.authenticate(session, Credentials("alice", key))
        assert found is not None and found.id == user.id


def test_a_wrong_key_does_not_authenticate(session: Session) -> None:
    user, _ = users.ensure_user(session, "alice")
    key = users.issue_key(session, user)
    assert users.authenticate(session, Credentials("alice", key[:-1] + "x")) is None
    assert users.authenticate(session, Credentials("alice", key.upper())) is None


def test_an_unknown_user_does_not_authenticate(session: Session) -> None:
    user, _ = users.ensure_user(session, "alice")
    key = users.issue_key(session, user)
    assert users.authenticate(session, Credentials("mallory", key)) is None


def test_the_key_of_another_user_does_not_authenticate_this_username(session: Session) -> None:
    alice, _ = users.ensure_user(session, "alice")
    bob, _ = users.ensure_user(session, "bob")
    users.issue_key(session, alice)
    bobs_key = users.issue_key(session, bob)
    assert users.authenticate(session, Credentials("alice", bobs_key)) is None
