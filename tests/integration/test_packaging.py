"""The deliverables around the code: docker-compose.yml is a valid Compose file."""

from __future__ import annotations

import configparser
import subprocess

import pytest

from tests.support.locations import ROOT

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


def test_the_package_data_carries_every_migration() -> None:
    """The API and the reporter migrate at start; an installed (not editable) package that lost
    its migrations, as the compose image's would be, could not create its schema. The
    migrations folder is no Python package, so only setup.cfg's package_data ships it."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["controlplane.db"].split(",")]
    package = ROOT / "controlplane" / "db"
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    in_tree = {
        path for path in (package / "migrations").rglob("*") if path.suffix in (".py", ".mako")
    }
    assert in_tree and in_tree <= shipped
