"""The deliverables around the code: docker-compose.yml is a valid Compose file."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_is_valid_and_names_every_process() -> None:
    checked = compose("config", "-q")
    assert checked.returncode == 0, checked.stderr
    services = compose("config", "--services")
    assert set(services.stdout.split()) == {"redis", "api", "reporter", "agent"}
