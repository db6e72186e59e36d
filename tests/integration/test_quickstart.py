"""The README's run command does what the README says: prints the key and a working URL, runs a
real container through the API on a broker of its own that refuses clients without its password,
and stops everything it started on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import redis
import requests

from controlplane.core.messages import LABEL_NODE_UUID
from controlplane.core.signing import NodeToken
from tests.support.api import ApiClient
from tests.support.locations import ROOT
from tests.support.processes import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def quickstart(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[dict[str, object]]:
    port, redis_port = free_port(), free_port()
    state = tmp_path / "state"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONTROLPLANE_")}
    env.update(
        CONTROLPLANE_PORT=str(port),
        CONTROLPLANE_REDIS_PORT=str(redis_port),
        CONTROLPLANE_STATE_DIR=str(state),
    )
    output = (tmp_path / "run.out").open("w+")
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts/run.sh")],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def banner() -> str | None:
        output.seek(0)
        text = output.read()
        return text if "Press Ctrl-C to stop." in text else None

    try:
        text = wait_for(banner, timeout=240, interval=0.2)
        yield {"process": process, "port": port, "redis_port": redis_port, "text": text}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        token = state / "agent" / "token"
        if token.exists():
            node_uuid = NodeToken.parse(token.read_text()).node_uuid
            for container in docker_client.containers.list(
                all=True, filters={"label": f"{LABEL_NODE_UUID}={node_uuid}"}
            ):
                container.remove(force=True)
        output.close()


def test_run_command_serves_the_api_and_stops_cleanly_on_ctrl_c(
    quickstart: dict[str, object],
) -> None:
    text = str(quickstart["text"])
    port = quickstart["port"]
    assert f"http://127.0.0.1:{port}/api/v1/" in text
    key = re.search(r"API key\s+(\S+)", text)
    assert key is not None
    # The banner's CLI lines, run as a user pastes them.
    tried = text.split("Try the CLI (docs/cli.md):\n", 1)[1].split("\n\nor curl:", 1)[0]
    export, run, _ = (line.strip() for line in tried.splitlines())
    done = subprocess.run(
        ["bash", "-c", f"{export} && {run}"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["hello", "Running"]
    client = ApiClient(f"http://127.0.0.1:{port}", "admin", key.group(1))
    [hello] = client.request("GET", "/api/v1/container/", params={"name": "hello"}).json()[
        "objects"
    ]
    assert hello["state"] == "Running"
    broker = redis.Redis(port=int(str(quickstart["redis_port"])))
    with pytest.raises(redis.AuthenticationError):
        broker.ping()

    process = quickstart["process"]
    assert isinstance(process, subprocess.Popen)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=30)
    time.sleep(0.5)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/api/v1/", timeout=2)
    leftovers = subprocess.run(
        ["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == ""
    with pytest.raises(redis.ConnectionError):
        broker.ping()  # the broker it started is gone too
    broker.close()
