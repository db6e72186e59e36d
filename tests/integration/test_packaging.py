"""The deliverables around the code: docker-compose.yml is a valid Compose file that needs its
secrets, the image's probe passes on each role's healthy process and fails on a dead one, and
the package ships its migrations."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.support.locations import ROOT
from tests.support.plane import Plane
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


SECRETS = {"CONTROLPLANE_REDIS_PASSWORD": "p" * 32, "CONTROLPLANE_SECRET_KEY": "k" * 32}


def compose(*args: str, env: dict[str, str] = SECRETS) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLPLANE_")}
    return subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**clean, **env},
    )


def test_compose_file_is_valid_and_names_every_process() -> None:
    checked = compose("config", "-q")
    assert checked.returncode == 0, checked.stderr
    services = compose("config", "--services")
    assert set(services.stdout.split()) == {"redis", "api", "reporter", "agent"}


def image_probe() -> list[str]:
    """The command of the Dockerfile's HEALTHCHECK (its exec form)."""
    text = (ROOT / "Dockerfile").read_text()
    [line] = [line for line in text.split("HEALTHCHECK", 1)[1].splitlines() if "CMD [" in line]
    command = json.loads(line.split("CMD", 1)[1])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def test_each_role_is_probed_where_it_answers() -> None:
    services = yaml.safe_load(compose("config").stdout)["services"]
    assert "CONTROLPLANE_PROBE_URL" not in services["api"]["environment"]  # the image's /readyz
    assert "http://127.0.0.1:8000/readyz" in image_probe()[-1]
    for role, variable in (
        ("reporter", "CONTROLPLANE_REPORTER_METRICS_BIND"),
        ("agent", "CONTROLPLANE_AGENT_METRICS_BIND"),
    ):
        environment = services[role]["environment"]
        port = environment[variable].rsplit(":", 1)[1]
        assert environment["CONTROLPLANE_PROBE_URL"] == f"http://127.0.0.1:{port}/metrics"


def test_the_image_probe_passes_on_a_ready_api_and_serving_workers_only(plane: Plane) -> None:
    def probe(url: str) -> int:
        env = {**os.environ, "CONTROLPLANE_PROBE_URL": url}
        return subprocess.run(image_probe(), env=env, capture_output=True, check=False).returncode

    assert probe(f"{plane.base_url}/readyz") == 0
    assert probe(plane.metrics_urls["reporter"]) == 0
    assert probe(plane.metrics_urls["agent"]) == 0
    assert probe(f"http://127.0.0.1:{free_port()}/readyz") != 0


def test_the_image_runs_as_a_user_and_only_the_agent_as_root() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert [line for line in lines if line.startswith("USER ")] == ["USER controlplane"]
    services = yaml.safe_load(compose("config").stdout)["services"]
    assert {name for name, service in services.items() if "user" in service} == {"agent"}
    assert services["agent"]["user"] == "root"


def test_compose_needs_a_broker_password_and_a_secret_key_and_keeps_the_key_from_the_agent() -> (
    None
):
    for missing in SECRETS:
        refused = compose("config", "-q", env={k: v for k, v in SECRETS.items() if k != missing})
        assert refused.returncode != 0
        assert missing in refused.stderr
    config = compose("config").stdout
    agent = config[config.index("  agent:") :].split("\n  api:")[0]
    assert "CONTROLPLANE_SECRET_KEY" not in agent
    assert f"redis://:{SECRETS['CONTROLPLANE_REDIS_PASSWORD']}@redis:6379/0" in agent


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
