"""What the user CLI prints and reads on its own: tables, stackfile scalars, which object a name
means, and that a client command starts without loading the server."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from controlplane.client.errors import ClientError
from controlplane.client.output import field, table
from controlplane.client.resolve import _one
from controlplane.client.stackfile import read_stackfile


def test_a_table_aligns_its_columns_and_keeps_each_row_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    table(
        [{"name": "web-1", "state": "Running"}, {"name": "evil\nname\x1b[2J", "state": "Stopped"}],
        [("NAME", field("name")), ("STATE", field("state"))],
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "NAME            STATE",
        "web-1           Running",
        "evil?name?[2J   Stopped",
    ]


def test_stackfile_scalars_mean_what_was_written() -> None:
    text = (
        "web:\n  image: busybox\n  ports: [2222:22, '80']\n  restart: no\n"
        "  target_num_containers: 2\n  privileged: yes\n  environment:\n    A: 1.50\n    B: 0755\n"
    )
    [web] = read_stackfile(text, "stack.yml")
    assert web == {
        "name": "web",
        "image": "busybox",
        "ports": ["2222:22", "80"],
        "restart": False,
        "target_num_containers": 2,
        "privileged": True,
        "environment": {"A": "1.50", "B": "0755"},
    }


def test_a_hostile_stackfile_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ClientError, match=r"^stack.yml: anchors and aliases"):
        read_stackfile("a: &x {image: busybox}\nb: *x\n", "stack.yml")


def objects(*states: str) -> list[dict[str, Any]]:
    return [{"uuid": f"uuid-{i}", "state": state} for i, state in enumerate(states)]


def test_a_name_means_its_live_object_before_terminated_ones() -> None:
    assert _one("container", "web", objects("Terminated", "Running"))["uuid"] == "uuid-1"
    assert _one("container", "web", objects("Terminated", "Terminated"))["uuid"] == "uuid-1"


def test_two_live_objects_of_one_name_are_an_error_naming_both() -> None:
    with pytest.raises(ClientError, match=r"web names 2 containers \(uuid-0, uuid-1\)"):
        _one("container", "web", objects("Running", "Stopped"))
    with pytest.raises(ClientError, match="no container web"):
        _one("container", "web", [])


def test_a_client_command_starts_without_the_server_modules() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys\n"
            "from click.testing import CliRunner\n"
            "from controlplane.cli import main\n"
            "result = CliRunner().invoke(main, ['container', 'ls', '--help'])\n"
            "assert result.exit_code == 0, result.output\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    top_level = set(json.loads(loaded.stdout))
    assert "click" in top_level
    assert not top_level & {"flask", "sqlalchemy", "celery", "gunicorn", "kombu", "docker"}
