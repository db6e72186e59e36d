"""`controlplane node add | ensure | rotate | revoke`, the operator's side of node credentials, and
the processes that refuse to start without the secret key or a token (no broker needed)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controlplane.cli import main
from controlplane.core.signing import NodeToken
from controlplane.db import enrollment
from controlplane.db.engine import Database
from tests.unit.helpers import SECRET_KEY
from workers.cli import agent


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {"CONTROLPLANE_DATABASE_URL": database_url, "CONTROLPLANE_SECRET_KEY": SECRET_KEY}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def test_add_prints_a_token_of_the_new_node_and_refuses_a_name_twice(
    env: dict[str, str], database: Database
) -> None:
    added = run(env, "node", "add", "web-1")
    assert added.exit_code == 0, added.output
    token = NodeToken.parse(added.output)
    with database.session() as session:
        assert enrollment.find_node(session, "web-1").uuid == token.node_uuid
    again = run(env, "node", "add", "web-1")
    assert again.exit_code == 1
    assert "a node called web-1 exists" in again.output


def test_rotate_makes_a_new_token_and_revoke_stops_the_node(
    env: dict[str, str], database: Database
) -> None:
    first = NodeToken.parse(run(env, "node", "add", "web-1").output)
    second = NodeToken.parse(run(env, "node", "rotate", "web-1").output)
    assert (second.node_uuid, second.key != first.key) == (first.node_uuid, True)
    revoked = run(env, "node", "revoke", first.node_uuid)
    assert revoked.exit_code == 0
    with database.session() as session:
        node = enrollment.find_node(session, "web-1")
        assert (node.revoked, node.state) == (True, "Unreachable")
    missing = run(env, "node", "revoke", "web-2")
    assert (missing.exit_code, "node web-2 not found" in missing.output) == (1, True)


def test_ensure_writes_the_current_token_once_and_re_enrolls_a_revoked_node(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "agent" / "token"
    assert run(env, "node", "ensure", "web-1", "--token-file", str(path)).exit_code == 0
    token = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run(env, "node", "ensure", "web-1", "--token-file", str(path)).exit_code == 0
    assert path.read_text() == token
    run(env, "node", "revoke", "web-1")
    assert run(env, "node", "ensure", "web-1", "--token-file", str(path)).exit_code == 0
    assert path.read_text() != token
    assert NodeToken.parse(path.read_text()).node_uuid == NodeToken.parse(token).node_uuid


@pytest.mark.parametrize("command", [["reporter"], ["api"], ["node", "add", "web-1"]])
def test_nothing_that_talks_to_nodes_starts_without_the_secret_key(
    database_url: str, command: list[str]
) -> None:
    refused = run(
        {"CONTROLPLANE_DATABASE_URL": database_url, "CONTROLPLANE_SECRET_KEY": ""}, *command
    )
    assert refused.exit_code == 1
    assert "CONTROLPLANE_SECRET_KEY" in refused.output


def test_an_agent_without_a_token_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTROLPLANE_AGENT_TOKEN", raising=False)
    monkeypatch.delenv("CONTROLPLANE_AGENT_TOKEN_FILE", raising=False)
    refused = CliRunner().invoke(agent, [])
    assert refused.exit_code == 1
    assert "controlplane node add NAME" in refused.output
