"""The systemd units shipped in docs/systemd/: each one systemd itself accepts without a
warning (`systemd-analyze verify`, with ExecStart pointed at this checkout's command), runs the
right `controlplane` command with options that command takes, restarts always, runs as a user
of its own with the hardening docs/operations.md §10 describes, and keeps the secret key and
the database away from the agent."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "docs" / "systemd"
INSTALLED = "/opt/controlplane/.venv/bin/controlplane"  # where docs/operations.md §10 puts it
HERE = str(Path(sys.executable).parent / "controlplane")
ROLES = {"api": "api", "reporter": "reporter", "agent": "agent"}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
}


def service(role: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / f"controlplane-{role}.service")
    return parser["Service"]


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: scripts/bootstrap.sh installs systemd")
        pytest.skip("no systemd-analyze here")
    return found


@pytest.mark.parametrize("role", ROLES)
def test_systemd_accepts_the_unit_without_a_warning(role: str, tmp_path: Path) -> None:
    text = (UNITS / f"controlplane-{role}.service").read_text()
    assert INSTALLED in text
    unit = tmp_path / f"controlplane-{role}.service"
    unit.write_text(text.replace(INSTALLED, HERE).replace("EnvironmentFile=", "EnvironmentFile=-"))
    checked = subprocess.run(
        [systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


@pytest.mark.parametrize(("role", "command"), ROLES.items())
def test_the_unit_runs_its_command_with_options_it_takes(role: str, command: str) -> None:
    program, *args = shlex.split(service(role)["ExecStart"])
    assert (program, args[0]) == (INSTALLED, command)
    helped = subprocess.run(
        [HERE, *args, "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert helped.returncode == 0, helped.stderr


@pytest.mark.parametrize("role", ROLES)
def test_the_unit_restarts_always_as_its_own_hardened_user(role: str) -> None:
    unit = service(role)
    assert unit["Restart"] == "always"
    assert unit["User"] not in ("", "root") and unit["User"] == unit["Group"]
    assert unit["UMask"] == "0077"
    assert {key: unit.get(key) for key in HARDENING} == HARDENING


def test_the_agent_reads_neither_the_secret_key_nor_the_database() -> None:
    agent = service("agent")
    assert agent["EnvironmentFile"] == "/etc/controlplane/agent.env"
    assert agent["SupplementaryGroups"] == "docker"  # the Docker socket's group
    assert "StateDirectory" not in agent
    for role in ("api", "reporter"):
        assert service(role)["EnvironmentFile"] == "/etc/controlplane/controlplane.env"
