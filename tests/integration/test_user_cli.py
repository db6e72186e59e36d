"""The user CLI against the live plane, as a user runs it: `controlplane container run --wait`,
`ls`, `logs [-f]`, `exec`, `rm --wait`, services, stacks, nodes, actions and events, checked
against the Docker Engine and the API; and its failures, each one sentence and exit status 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import uuid4

import docker
import pytest

from tests.support.locations import BIN, IMAGE
from tests.support.plane import Plane

pytestmark = pytest.mark.integration

CLI = str(BIN / "controlplane")
LABEL = "io.controlplane.container_uuid"


@pytest.fixture(scope="module")
def user_env(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A user of their own, so that their lists hold only what these tests made."""
    username = f"cli-{uuid4().hex[:8]}"
    key = plane.command("user", "create", username)
    config = tmp_path_factory.mktemp("cli") / "none.ini"
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(config.parent),
        "CONTROLPLANE_CONFIG": str(config),
        "CONTROLPLANE_URL": plane.base_url,
        "CONTROLPLANE_USER": username,
        "CONTROLPLANE_APIKEY": key,
    }


def cli(env: dict[str, str], *args: str, status: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == status, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def rows(output: str) -> list[dict[str, str]]:
    """A table read by its columns: each cell starts under its heading."""
    header, *lines = output.splitlines()
    names = header.split()
    starts = [header.index(name) for name in names]
    ends = [*starts[1:], None]
    return [
        {
            name: line[start:end].strip()
            for name, start, end in zip(names, starts, ends, strict=True)
        }
        for line in lines
    ]


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether `condition` holds within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def docker_state(docker_client: docker.DockerClient, uuid: str) -> list[str]:
    found = docker_client.containers.list(all=True, filters={"label": f"{LABEL}={uuid}"})
    return [container.status for container in found]


@pytest.fixture
def background(user_env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `controlplane ARGS...` in the background (`logs -f`, `events`) with its output
    piped; each is stopped after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [CLI, *args], env=user_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append(process)
        return process

    yield start
    for process in started:
        with process:  # closes its pipes and waits for it
            process.kill()


def test_run_wait_ls_logs_exec_and_rm_drive_a_real_container(
    user_env: dict[str, str],
    docker_client: docker.DockerClient,
    background: Callable[..., subprocess.Popen[str]],
) -> None:
    script = "echo hello; echo oops >&2; sleep 3600"
    run = cli(user_env, "container", "run", "--wait", "--name", "hello", IMAGE, "sh", "-c", script)
    assert run.stdout.split() == ["hello", "Running"]
    progress = run.stderr.splitlines()
    assert progress[0] == "Container Start: Pending"
    assert "  container hello: Running" in progress
    assert progress[-1].startswith("Container Start succeeded in ")

    [listed] = rows(cli(user_env, "container", "ls").stdout)
    assert (listed["NAME"], listed["IMAGE"], listed["STATE"]) == ("hello", IMAGE, "Running")
    [record] = json.loads(cli(user_env, "container", "ls", "--json").stdout)
    assert record["uuid"].startswith(listed["UUID"])
    assert docker_state(docker_client, record["uuid"]) == ["running"]

    logs = cli(user_env, "container", "logs", listed["UUID"])
    assert sorted(logs.stdout.splitlines()) == ["hello", "oops"]  # the REST logs mix the two

    followed = background("container", "logs", "-f", "hello")
    assert followed.stdout is not None
    assert followed.stdout.readline() == "hello\n"  # the stream keeps stdout and stderr apart

    interrupted = background("container", "logs", "-f", "hello")
    assert interrupted.stdout is not None and interrupted.stdout.readline() == "hello\n"
    interrupted.send_signal(signal.SIGINT)  # Ctrl-C: a quiet end, status 130 as from a shell
    assert interrupted.wait(timeout=30) == 130
    assert interrupted.stderr is not None
    left = interrupted.stderr.read()
    assert "Aborted" not in left and "Traceback" not in left

    executed = cli(user_env, "container", "exec", "hello", "sh", "-c", "echo in; exit 3", status=3)
    assert executed.stdout == "in\n"

    removed = cli(user_env, "container", "rm", "--wait", "hello")
    assert removed.stdout.split() == ["hello", "Terminated"]
    assert "  container hello: Terminated" in removed.stderr.splitlines()
    assert docker_state(docker_client, record["uuid"]) == []
    # The followed stream ends with the container, normally: `logs -f` exits 0 by itself.
    assert followed.wait(timeout=30) == 0
    assert followed.stderr is not None and followed.stderr.read() == "oops\n"
    assert rows(cli(user_env, "container", "ls").stdout) == []
    [gone] = rows(cli(user_env, "container", "ls", "--all").stdout)
    assert gone["STATE"] == "Terminated"


def test_a_failed_wait_exits_1_with_the_nodes_reason(user_env: dict[str, str]) -> None:
    failed = cli(user_env, "container", "run", "--wait", "no/such:image", status=1)
    last = failed.stderr.splitlines()[-1]
    assert last.startswith("Error: Container Start failed: image no/such:image is not present")
    [action] = rows(cli(user_env, "action", "ls", "-n", "1").stdout)
    assert (action["ACTION"], action["STATE"]) == ("Container Start", "Failed")


def test_failures_are_one_sentence_each(user_env: dict[str, str], plane: Plane) -> None:
    wrong_key = cli({**user_env, "CONTROLPLANE_APIKEY": "0" * 64}, "container", "ls", status=1)
    assert wrong_key.stderr == (
        f"Error: the API at {plane.base_url} refused the credentials of user "
        f"'{user_env['CONTROLPLANE_USER']}': check CONTROLPLANE_USER and CONTROLPLANE_APIKEY\n"
    )
    down = cli({**user_env, "CONTROLPLANE_URL": "http://127.0.0.1:9"}, "node", "ls", status=1)
    assert down.stderr.startswith("Error: cannot reach the control plane at http://127.0.0.1:9")
    unknown = cli(user_env, "container", "stop", "no-such-container", status=1)
    assert unknown.stderr == "Error: no container no-such-container\n"
    refused = cli(user_env, "container", "run", "--name", "bad name!", IMAGE, status=1)
    assert refused.stderr.startswith("Error: ") and "(name)" in refused.stderr
    stream = cli({**user_env, "CONTROLPLANE_APIKEY": "0" * 64}, "events", status=1)
    assert "refused the credentials" in stream.stderr
    usage = cli(user_env, "container", "run", "-p", "http", IMAGE, status=2)
    assert "is not [OUTER:]INNER[/tcp|udp]" in usage.stderr


def test_a_service_runs_scales_shows_its_logs_and_goes(
    user_env: dict[str, str], docker_client: docker.DockerClient
) -> None:
    loop = "while true; do echo tick; sleep 1; done"
    run = cli(
        user_env, "service", "run", "--wait", "-n", "2", "--name", "ticker", IMAGE, "sh", "-c", loop
    )
    assert run.stdout.split() == ["ticker", "Running"]
    assert {"  container ticker-1: Running", "  container ticker-2: Running"} <= set(
        run.stderr.splitlines()
    )
    cli(user_env, "service", "scale", "--wait", "ticker", "3")
    [service] = rows(cli(user_env, "service", "ls").stdout)
    assert (service["NAME"], service["STATE"], service["RUNNING"]) == ("ticker", "Running", "3/3")
    containers = rows(cli(user_env, "container", "ls", "--service", "ticker").stdout)
    assert sorted(c["NAME"] for c in containers) == ["ticker-1", "ticker-2", "ticker-3"]

    logs = cli(user_env, "service", "logs", "--tail", "1", "ticker").stdout.splitlines()
    assert sorted(logs) == ["ticker-1 | tick", "ticker-2 | tick", "ticker-3 | tick"]

    cli(user_env, "service", "rm", "--wait", "ticker")
    uuids = [c["uuid"] for c in json.loads(cli(user_env, "container", "ls", "-a", "--json").stdout)]
    assert all(docker_state(docker_client, uuid) == [] for uuid in uuids)


def test_a_stack_comes_up_from_a_stackfile_exports_and_goes(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    stackfile = tmp_path / "shop" / "docker-cloud.yml"
    stackfile.parent.mkdir()
    stackfile.write_text(
        f"db:\n  image: {IMAGE}\n  command: sleep 3600\n"
        f"web:\n  image: {IMAGE}\n  command: sleep 3600\n  links: [db]\n"
        "  target_num_containers: 2\n  restart: no\n"
    )
    up = cli(user_env, "stack", "up", "--wait", str(stackfile))
    assert up.stdout.split() == ["shop", "Running"]
    assert up.stderr.splitlines()[-1].startswith("Stack Start succeeded in ")
    [stack] = rows(cli(user_env, "stack", "ls").stdout)
    assert (stack["NAME"], stack["STATE"], stack["SERVICES"]) == ("shop", "Running", "db, web")
    exported = cli(user_env, "stack", "export", "shop").stdout
    assert "links:\n  - db\n" in exported and "target_num_containers: 2" in exported

    cli(user_env, "stack", "rm", "--wait", "shop")
    assert rows(cli(user_env, "stack", "ls").stdout) == []
    states = {
        c["state"] for c in json.loads(cli(user_env, "container", "ls", "-a", "--json").stdout)
    }
    assert "Running" not in states


def test_node_ls_shows_the_planes_node(user_env: dict[str, str], plane: Plane) -> None:
    nodes = rows(cli(user_env, "node", "ls").stdout)
    [mine] = [node for node in nodes if plane.node_uuid.startswith(node["UUID"])]
    assert mine["STATE"] == "Deployed"
    inspected = json.loads(cli(user_env, "node", "inspect", mine["UUID"]).stdout)
    assert inspected["uuid"] == plane.node_uuid


def test_events_prints_a_start_as_it_happens(
    user_env: dict[str, str], background: Callable[..., subprocess.Popen[str]]
) -> None:
    created = json.loads(
        cli(user_env, "container", "run", "--wait", "--json", IMAGE, "sleep", "3600").stdout
    )
    listening = background("events", "--json")
    lines = listening.stdout
    assert lines is not None
    seen: list[dict[str, str]] = []
    reader = threading.Thread(target=lambda: seen.extend(map(json.loads, lines)))
    reader.start()

    def heard_running() -> bool:
        return any(
            e["type"] == "container"
            and created["uuid"] in e["resource_uri"]
            and e["state"] == "Running"
            for e in list(seen)
        )

    try:
        # Events are heard from the handshake on, which the command does not announce: restart
        # the container until its start is heard (once, unless the first restart beat it).
        for _ in range(5):
            cli(user_env, "container", "stop", "--wait", created["uuid"])
            cli(user_env, "container", "start", "--wait", created["uuid"])
            if wait_until(heard_running, 1.0):
                break
    finally:
        cli(user_env, "container", "rm", "--wait", created["uuid"])
        listening.kill()
        reader.join(timeout=10)
    assert heard_running(), seen
