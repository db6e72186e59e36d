"""`controlplane key list | revoke`: an operator lists a user's keys by fingerprint and revokes
one (by id, fingerprint or the key itself) or all; a revoked key stops authenticating at once,
the user's other keys and other users' keys keep working."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner, Result

from controlplane.cli import main
from controlplane.core.credentials import Credentials
from controlplane.db import users
from controlplane.db.engine import Database


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {"CONTROLPLANE_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def issued(env: dict[str, str], *args: str) -> str:
    result = run(env, *args)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def authenticates(database: Database, username: str, key: str) -> bool:
    with database.read_session() as session:
        return users.authenticate(session, Credentials(username, key)) is not None


def listed(env: dict[str, str], username: str) -> list[list[str]]:
    header, *rows = issued(env, "key", "list", username).splitlines()
    assert header.split() == ["ID", "FINGERPRINT", "CREATED"]
    return [row.split() for row in rows]


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def test_keys_are_listed_by_fingerprint_never_shown(env: dict[str, str]) -> None:
    first = issued(env, "user", "create", "alice")
    second = issued(env, "key", "create", "alice")
    rows = listed(env, "alice")
    assert [row[1] for row in rows] == [fingerprint(first), fingerprint(second)]
    assert first not in str(rows) and second not in str(rows)


@pytest.mark.parametrize("naming", ["id", "fingerprint", "key"])
def test_one_revoked_key_stops_working_and_the_others_do_not(
    env: dict[str, str], database: Database, naming: str
) -> None:
    doomed = issued(env, "user", "create", "alice")
    kept = issued(env, "key", "create", "alice")
    bobs = issued(env, "user", "create", "bob")
    which = {
        "id": listed(env, "alice")[0][0],
        "fingerprint": fingerprint(doomed),
        "key": doomed,
    }[naming]
    assert issued(env, "key", "revoke", "alice", which) == "revoked 1 key of alice"
    assert not authenticates(database, "alice", doomed)
    assert authenticates(database, "alice", kept)
    assert authenticates(database, "bob", bobs)
    assert [row[1] for row in listed(env, "alice")] == [fingerprint(kept)]


def test_all_keys_of_a_user_are_revoked_and_it_is_told_how_to_get_one(
    env: dict[str, str], database: Database
) -> None:
    keys = [issued(env, "user", "create", "alice"), issued(env, "key", "create", "alice")]
    said = issued(env, "key", "revoke", "alice", "--all")
    assert said.splitlines() == [
        "revoked 2 keys of alice",
        "alice has no key left: `controlplane key create alice` issues one",
    ]
    assert not any(authenticates(database, "alice", key) for key in keys)
    assert listed(env, "alice") == []


def test_a_key_of_another_user_is_not_revoked_through_this_one(
    env: dict[str, str], database: Database
) -> None:
    issued(env, "user", "create", "alice")
    bobs = issued(env, "user", "create", "bob")
    refused = run(env, "key", "revoke", "alice", bobs)
    assert refused.exit_code == 1
    assert "alice has no such key" in refused.output and bobs not in refused.output
    assert authenticates(database, "bob", bobs)


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (("key", "revoke", "alice"), 2, "name one key"),
        (("key", "revoke", "alice", "1", "--all"), 2, "name one key"),
        (("key", "revoke", "alice", "99"), 1, "alice has no key 99"),
        (("key", "revoke", "nobody", "--all"), 1, "no user called nobody"),
        (("key", "list", "nobody"), 1, "no user called nobody"),
    ],
)
def test_what_names_no_key_is_refused(
    env: dict[str, str], args: tuple[str, ...], code: int, said: str
) -> None:
    issued(env, "user", "create", "alice")
    refused = run(env, *args)
    assert (refused.exit_code, said in refused.output) == (code, True), refused.output
