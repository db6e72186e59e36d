"""A process that cannot start says why in one sentence with a hint, never with a traceback: a
database URL it cannot use, a database it cannot reach or open, a driver that is not installed,
a Docker Engine the agent cannot reach. And `controlplane --version`."""

from __future__ import annotations

import gc
import warnings
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.exc import IntegrityError

from controlplane.cli import main
from controlplane.core.signing import NodeToken
from controlplane.db import diagnosis
from tests.unit.helpers import SECRET_KEY
from workers.cli import agent

NODE_UUID = "6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01"


def one_sentence(result: Result) -> str:
    """The error the command printed, checked to be one line and no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: ")
    return line


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("bogus://host/x", "names a bogus database, and the control plane runs on SQLite or "),
        ("mysql://u:secret@127.0.0.1/x", "names a mysql database"),
        ("not a url", "is not a database URL; give sqlite:////"),
        # Port 1 of loopback refuses at once: no server, and the password is never shown.
        ("postgresql+psycopg://u:secret@127.0.0.1:1/x",
         "cannot use the database at postgresql+psycopg://u:***@127.0.0.1:1/x (connection failed"),
        ("postgresql+psycopg2://u:secret@127.0.0.1:1/x",
         "driver psycopg2 is not installed, and CONTROLPLANE_DATABASE_URL "
         "(postgresql+psycopg2://u:***@127.0.0.1:1/x) needs it"),
    ],
)  # fmt: skip
def test_a_database_it_cannot_use_is_named_in_one_sentence(url: str, said: str) -> None:
    env = {"CONTROLPLANE_DATABASE_URL": url, "CONTROLPLANE_SECRET_KEY": SECRET_KEY}
    line = one_sentence(CliRunner().invoke(main, ["db", "upgrade"], env=env))
    assert said in line
    assert "secret" not in line


def test_a_sqlite_file_it_cannot_open_is_named_with_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "cp.db"
    env = {"CONTROLPLANE_DATABASE_URL": f"sqlite:///{path}", "CONTROLPLANE_SECRET_KEY": SECRET_KEY}
    line = one_sentence(CliRunner().invoke(main, ["user", "create", "alice"], env=env))
    assert f"cannot open the SQLite database {path} (unable to open database file)" in line
    assert "does its directory exist" in line


def test_a_missing_driver_says_how_to_install_it() -> None:
    missing = ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
    explained = diagnosis.explain(missing, "postgresql+psycopg://u:secret@db/cp")
    assert explained is not None
    assert "driver psycopg is not installed" in explained
    assert "pip install 'controlplane[postgres]'" in explained
    assert "secret" not in explained


def test_what_is_no_failure_to_reach_the_database_is_left_to_surface() -> None:
    refused = IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: users.name"))
    assert diagnosis.explain(refused, "sqlite:///cp.db") is None
    assert diagnosis.explain(ModuleNotFoundError(name="yaml"), "sqlite:///cp.db") is None


def test_an_agent_that_cannot_reach_docker_says_so(tmp_path: Path) -> None:
    socket = tmp_path / "docker.sock"  # nothing listens there
    env = {
        "CONTROLPLANE_AGENT_TOKEN": str(NodeToken(node_uuid=NODE_UUID, key=b"k" * 32)),
        "CONTROLPLANE_AGENT_BROKER_URL": "redis://127.0.0.1:1/0",  # never reached first
        "CONTROLPLANE_AGENT_DOCKER_URL": f"unix://{socket}",
    }
    result = CliRunner().invoke(agent, [], env=env)
    line = one_sentence(result)
    # docker-py leaves the socket of its failed connection to the garbage collector, which
    # would warn of it during some later test.
    del result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    assert line == (
        f"Error: cannot reach the Docker Engine at unix://{socket} (no such file or directory): "
        "is dockerd running, and does CONTROLPLANE_AGENT_DOCKER_URL (--docker-url) name its "
        "socket?"
    )


def test_the_command_tells_its_version() -> None:
    shown = CliRunner().invoke(main, ["--version"])
    assert (shown.exit_code, shown.output) == (
        0,
        f"controlplane, version {version('controlplane')}\n",
    )
