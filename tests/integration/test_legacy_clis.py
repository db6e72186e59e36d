"""The real, unmodified command-line clients against the live plane: `tutum` 0.21.1 (Tutum
tree) and `docker-cloud` 1.0.9 (Docker Cloud tree, namespaced), on Python 2.7, installed from
PyPI on first use (tests/support/legacy_cli.py says how, and where).

Every test runs once per CLI (the `--sync` one runs both at once, to halve its 4 s polls) and
checks what the CLI prints, the way a person reads it: the uuids, the states, the table rows
and their order, the messages and exit codes of its errors (3 for an API error, as both CLIs
exit), with `container ps`, the service and stack commands and `exec`.

Without a Python 2.7 the module skips (and fails under CI, whose machine has one).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.support import legacy_cli
from tests.support.api import ApiClient
from tests.support.containers import SERVER, docker_containers, running
from tests.support.legacy_cli import CliResult, InstalledCli, LegacyCli
from tests.support.plane import Plane
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

CLIS = {cli.name: cli for cli in (legacy_cli.TUTUM, legacy_cli.DOCKER_CLOUD)}
NODE_NAME = "test-node-1"  # the session plane's node (tests/support/plane.py)
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
UNKNOWN_SHORT = "0000abcd"  # 8 hex digits, as the CLIs print ids: 1 in 4 billion to match one
API_ERROR_EXIT = 3  # both CLIs' EXCEPTION_EXIT_CODE
PORT = [{"protocol": "tcp", "inner_port": 80}]  # published on a port Docker picks


@pytest.fixture(scope="session")
def installing() -> Iterator[dict[str, Future[tuple[str, Path]]]]:
    """Both CLIs being installed, in the background. A cold install is pip building 2015 sdists
    (about 15 s for the two at once); session-scoped and asked for before `plane`, it runs
    while the plane starts when this module runs first. A later session finds both installed
    and takes no time."""
    python = legacy_cli.require_python27()

    def install(cli: LegacyCli) -> tuple[str, Path]:
        return python, legacy_cli.install(cli, python)

    with ThreadPoolExecutor(len(CLIS)) as pool:
        yield {name: pool.submit(install, cli) for name, cli in CLIS.items()}


@pytest.fixture
def make_cli(
    installing: dict[str, Future[tuple[str, Path]]], plane: Plane, tmp_path: Path
) -> Callable[[str], InstalledCli]:
    """A CLI as alice, set up by its environment variables only, as its README says; the
    Docker Cloud one in alice's namespace, so it calls the namespaced paths."""

    def make(name: str) -> InstalledCli:
        spec: LegacyCli = CLIS[name]
        python, directory = installing[name].result()
        namespace = "alice" if spec is legacy_cli.DOCKER_CLOUD else None
        env = legacy_cli.cli_environment(
            spec, plane.base_url, "alice", plane.keys["alice"], namespace=namespace
        )
        home = tmp_path / name
        home.mkdir()
        return InstalledCli(spec, python, directory, home, env)

    return make


@pytest.fixture(params=list(CLIS))
def cli(request: pytest.FixtureRequest, make_cli: Callable[[str], InstalledCli]) -> InstalledCli:
    return make_cli(request.param)


def ls(cli: InstalledCli) -> str:
    """The list subcommand: `tutum action list`, `docker-cloud action ls`."""
    return "list" if cli.cli is legacy_cli.TUTUM else "ls"


def succeeded(result: CliResult) -> list[str]:
    assert result.exit_code == 0, result
    return result.stdout.splitlines()


def failed(result: CliResult, message: str, exit_code: int = API_ERROR_EXIT) -> None:
    assert (result.exit_code, result.stdout) == (exit_code, ""), result
    assert message in result.stderr, result


def inspected(result: CliResult) -> dict[str, Any]:
    """`inspect` prints the object as indented JSON, with the action header's attribute."""
    body: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == 0 and result.stderr == "", result
    return body


def synced(result: CliResult, uuid: str) -> None:
    """`--sync` prints each state the action goes through until it succeeds, then the uuid."""
    lines = succeeded(result)
    assert lines[-1] == uuid, result
    assert lines[-2].rstrip(".") == "Success", result
    assert {line.rstrip(".") for line in lines[:-2]} <= {"Pending", "In progress"}, result


def rows(result: CliResult) -> list[dict[str, str]]:
    """A table's rows by column name. tabulate's plain format left-aligns text columns under
    their headers, so each header's offset is where its column starts (a cell may be empty)."""
    header, *body = succeeded(result)
    columns = [(m.group(), m.start()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    ends = [start for _, start in columns[1:]] + [None]
    return [
        {name: line[start:end].strip() for (name, start), end in zip(columns, ends, strict=True)}
        for line in body
    ]


# --- containers -----------------------------------------------------------------------------


def test_inspect_finds_a_container_by_short_uuid_and_name_with_its_node_as_public_dns(
    cli: InstalledCli, alice: ApiClient, image: str
) -> None:
    container = running(alice, name=f"inspected-{cli.cli.name}", run_command=SERVER,
                        container_ports=PORT)  # fmt: skip
    uuid = container["uuid"]

    shown = inspected(cli.run("container", "inspect", uuid[:8]))
    assert (shown["uuid"], shown["state"], shown["public_dns"]) == (uuid, "Running", NODE_NAME)
    [port] = shown["container_ports"]
    assert port["outer_port"] == container["container_ports"][0]["outer_port"]
    assert shown["resource_uri"] == container["resource_uri"].replace(
        "/api/v1/", "/api/v1/" if cli.cli is legacy_cli.TUTUM else "/api/app/v1/alice/"
    )
    assert inspected(cli.run("container", "inspect", container["name"]))["uuid"] == uuid


def test_start_stop_redeploy_and_terminate_with_sync_wait_for_the_real_container(
    make_cli: Callable[[str], InstalledCli],
    plane: Plane,
    image: str,
    docker_client: docker.DockerClient,
) -> None:
    """Both CLIs at once, each on a container of its own (and an HTTP client of its own):
    `--sync` polls the action every 4 s, so the eight commands took 40 s one after the other."""
    clis = [make_cli(name) for name in CLIS]
    with ThreadPoolExecutor(len(clis)) as pool:
        cycles = [pool.submit(cycle, cli, plane.client("alice"), docker_client) for cli in clis]
        for done in cycles:
            done.result()


def cycle(cli: InstalledCli, alice: ApiClient, docker_client: docker.DockerClient) -> None:
    """Drive one container through every action with `--sync`, checking Docker after each."""
    created = alice.create(name=f"cycled-{cli.cli.name}", run_command="sleep 3600")
    uuid, short = created["uuid"], created["uuid"][:8]

    synced(cli.run("container", "start", "--sync", short), uuid)
    assert alice.container(uuid)["state"] == "Running"
    [first] = docker_containers(docker_client, uuid)
    assert first.status == "running"

    synced(cli.run("container", "stop", "--sync", short), uuid)
    assert alice.container(uuid)["state"] == "Stopped"
    # A stop the state refuses: the API's 409, passed through by the CLI as it came.
    failed(
        cli.run("container", "stop", short),
        f"Status 409 (POST {cli.env.get('TUTUM_REST_HOST') or cli.env['DOCKERCLOUD_REST_HOST']}",
    )

    synced(cli.run("container", "redeploy", "--sync", short), uuid)
    assert alice.container(uuid)["state"] == "Running"
    [second] = docker_containers(docker_client, uuid)
    assert second.id != first.id and second.status == "running"

    synced(cli.run("container", "terminate", "--sync", uuid), uuid)
    assert alice.container(uuid)["state"] == "Terminated"
    assert docker_containers(docker_client, uuid) == []


def test_logs_print_the_containers_stdout_and_stderr_apart(
    cli: InstalledCli, alice: ApiClient, image: str
) -> None:
    container = running(alice, name=f"logged-{cli.cli.name}", run_command=SERVER)
    wait_for(lambda: "err-line" in alice.logs(container["uuid"]))  # there before the CLI asks

    logs = cli.run("container", "logs", container["uuid"][:8])

    assert (logs.exit_code, logs.stdout, logs.stderr) == (0, "out-line\n", "err-line\n"), logs


def test_container_ps_lists_the_container_with_its_ports_at_the_nodes_name(
    cli: InstalledCli, alice: ApiClient, image: str, plane: Plane
) -> None:
    container = running(alice, name=f"listed-{cli.cli.name}", run_command=SERVER,
                        container_ports=PORT)  # fmt: skip
    outer = container["container_ports"][0]["outer_port"]

    listed = cli.run("container", "ps", "--no-trunc")

    [row] = [row for row in rows(listed) if row["UUID"] == container["uuid"]]
    assert (row["NAME"], row["STATUS"]) == (container["name"], "▶ Running"), listed
    assert (row["PORTS"], row["NODE"]) == (f"{NODE_NAME}:{outer}->80/tcp", plane.node_uuid), listed
    quiet = succeeded(cli.run("container", "ps", "-q", "--status", "Running"))
    assert container["uuid"] in quiet


# --- nodes ----------------------------------------------------------------------------------


def test_node_list_and_inspect_show_the_node_by_its_name(cli: InstalledCli, plane: Plane) -> None:
    listed = cli.run("node", ls(cli))
    [row] = [row for row in rows(listed) if row["UUID"] == plane.node_uuid[:8]]
    assert (row["FQDN"], row["STATUS"], row["CLUSTER"]) == (NODE_NAME, "▶ Deployed", ""), listed

    shown = inspected(cli.run("node", "inspect", plane.node_uuid[:8]))
    assert (shown["uuid"], shown["external_fqdn"], shown["state"]) == (
        plane.node_uuid,
        NODE_NAME,
        "Deployed",
    )
    assert succeeded(cli.run("node", ls(cli), "-q")).count(plane.node_uuid) == 1


# --- actions --------------------------------------------------------------------------------


def test_action_list_prints_the_newest_actions_first(
    cli: InstalledCli, alice: ApiClient, image: str
) -> None:
    container = running(alice, name=f"audited-{cli.cli.name}", run_command="sleep 3600")
    uuid = container["uuid"]
    assert alice.act(uuid, "stop").status_code == 202
    alice.wait_state(uuid, "Stopped")

    listed = cli.run("action", ls(cli), "-l", "3")  # "the last 3 actions"

    ours = alice.request("GET", "/api/v1/action/", params={"object": uuid}).json()["objects"]
    assert [(row["UUID"], row["ACTION"]) for row in rows(listed)] == [
        (ours[0]["uuid"][:8], "Container Stop"),
        (ours[1]["uuid"][:8], "Container Start"),
        (ours[2]["uuid"][:8], "Container Create"),
    ], listed
    # The target is the object's URI after the tree's prefix: the uuid, or container/<uuid>.
    assert all(row["TARGET"].endswith(uuid) for row in rows(listed)), listed
    newest = succeeded(cli.run("action", ls(cli), "-q"))
    assert newest[:3] == [action["uuid"] for action in ours], newest


def test_action_inspect_finds_an_action_by_short_uuid(
    cli: InstalledCli, alice: ApiClient, image: str
) -> None:
    created = alice.create(name=f"short-{cli.cli.name}")
    [create] = alice.request("GET", "/api/v1/action/", params={"object": created["uuid"]}).json()[
        "objects"
    ]

    shown = inspected(cli.run("action", "inspect", create["uuid"][:8]))

    assert (shown["uuid"], shown["action"], shown["state"]) == (
        create["uuid"],
        "Container Create",
        "Success",
    )
    assert shown["object"].endswith(f"/container/{created['uuid']}/")
    assert inspected(cli.run("action", "inspect", create["uuid"]))["uuid"] == create["uuid"]


# --- errors ---------------------------------------------------------------------------------


UNKNOWN = [
    (("container", "inspect", UNKNOWN_UUID), "Cannot find a container with the identifier"),
    (("container", "start", UNKNOWN_SHORT), "Cannot find a container with the identifier"),
    (("container", "logs", "no-such-name"), "Cannot find a container with the identifier"),
    (("node", "inspect", UNKNOWN_SHORT), "Cannot find a node with the identifier"),
    (("action", "inspect", UNKNOWN_UUID), "Cannot find an action with the identifier"),
    # The SDK's own wording, for a short id that matches nothing.
    (("action", "inspect", UNKNOWN_SHORT), "Cannot find an action cluster with the identifier"),
]


def test_an_unknown_identifier_is_an_error_naming_it(cli: InstalledCli) -> None:
    results = cli.run_all(*(args for args, _ in UNKNOWN))
    for (args, message), result in zip(UNKNOWN, results, strict=True):
        failed(result, f"{message} '{args[-1]}'")


def test_bad_credentials_are_refused(cli: InstalledCli) -> None:
    """tutum asks for a login, which reads the end of its input and fails (exit 1); docker-cloud
    says so and exits with its API error code."""
    key = "TUTUM_APIKEY" if cli.cli is legacy_cli.TUTUM else "DOCKERCLOUD_APIKEY"
    cli.env[key] = "not-the-key"
    refused = cli.run("action", ls(cli))
    if cli.cli is legacy_cli.TUTUM:
        assert refused.exit_code == 1, refused
        assert "Not Authorized, Please login:" in refused.stderr, refused
        assert "EOFError" in refused.stderr, refused
    else:
        failed(refused, "Not authorized")


# --- services, stacks and exec -----------------------------------------------------------------


@pytest.fixture
def stackfile(tmp_path: Path, image: str) -> Path:
    path = tmp_path / "stack.yml"
    path.write_text(f"web:\n  image: {image}\n  command: sleep 3600\n  target_num_containers: 1\n")
    return path


def wait_printed(run: Callable[[], CliResult], wanted: Callable[[CliResult], bool]) -> CliResult:
    """Run a list command until what it prints shows `wanted` (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        result = run()
        if wanted(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_service_run_ps_scale_and_terminate(cli: InstalledCli, image: str) -> None:
    name = f"svc-{cli.cli.name}"
    run = ["run"] if cli.cli is legacy_cli.TUTUM else ["service", "run"]
    started = succeeded(
        cli.run(*run, "-n", name, "-t", "1", "-r", "sleep 3600", "--sync", image, timeout=120)
    )
    uuid = started[-1]
    assert started[-2].rstrip(".") == "Success", started

    def containers_shown(count: int) -> Callable[[CliResult], bool]:
        def shown(result: CliResult) -> bool:
            wanted = {"NAME": name, "UUID": uuid[:8], "STATUS": "▶ Running"}
            return any(
                row.items() >= wanted.items() and row["#CONTAINERS"] == str(count)
                for row in rows(result)
            )

        return shown

    listed = wait_printed(lambda: cli.run("service", "ps"), containers_shown(1))
    assert containers_shown(1)(listed), listed
    synced(cli.run("service", "scale", "--sync", name, "2", timeout=120), uuid)
    listed = wait_printed(lambda: cli.run("service", "ps"), containers_shown(2))
    assert containers_shown(2)(listed), listed
    synced(cli.run("service", "terminate", "--sync", uuid, timeout=120), uuid)


def test_stack_up_deploys_its_services(cli: InstalledCli, stackfile: Path) -> None:
    name = f"stack-{cli.cli.name}"
    up = succeeded(cli.run("stack", "up", "-n", name, "-f", str(stackfile), "--sync", timeout=120))
    uuid = up[-1]
    assert up[-2].rstrip(".") == "Success", up
    listed = cli.run("stack", ls(cli))
    assert any((row["NAME"], row["UUID"]) == (name, uuid[:8]) for row in rows(listed)), listed
    services = cli.run("service", "ps", "--stack", name)
    assert [row["NAME"] for row in rows(services)] == ["web"], services
    synced(cli.run("stack", "terminate", "--sync", uuid, timeout=120), uuid)


def test_exec_runs_a_command_in_the_container(
    cli: InstalledCli, alice: ApiClient, image: str
) -> None:
    container = running(alice, name=f"exec-{cli.cli.name}", run_command="sleep 3600")
    ran = cli.run("exec", container["uuid"][:8], "echo", "hello")
    assert (ran.exit_code, ran.stdout) == (0, "hello\n"), ran
