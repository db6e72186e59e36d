"""The real, unmodified command-line clients against the live plane: `tutum` 0.21.1 (Tutum
tree) and `docker-cloud` 1.0.9 (Docker Cloud tree, namespaced), on Python 2.7, installed from
PyPI on first use (tests/support/legacy_cli.py says how, and where).

Every test runs once per CLI (the container, service and stack flows of both CLIs run in one
test, all at once, to overlap their waits) and checks what the CLI prints, the way a person
reads it: the uuids, the states, the table rows and their order, the messages and exit codes of
its errors (3 for an API error, as both CLIs exit), for the container, node, action, service,
stack and exec commands.

Every `--sync` waits out the CLIs' 4 s poll, so the commands that take one run all at once
(the budget: the module, install included, in under 90 s).

Without a Python 2.7 the module skips (and fails under CI, whose machine has one).
"""

from __future__ import annotations

import json
import re
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
from tests.support.tables import table_rows
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


def synced_new(result: CliResult) -> str:
    """The uuid a `--sync` create prints last (`run`, `stack up`), once its action succeeded."""
    lines = succeeded(result)
    synced(result, lines[-1])
    return lines[-1]


def rows(result: CliResult) -> list[dict[str, str]]:
    return table_rows(succeeded(result))


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


def test_container_ps_lists_the_container_with_its_ports_at_the_nodes_name(
    cli: InstalledCli, alice: ApiClient, image: str, plane: Plane
) -> None:
    """The PORTS column is `<public_dns>:<outer_port>-><inner_port>/<protocol>`: it said
    `None:32769->80/tcp` while public_dns was null."""
    container = running(alice, name=f"listed-{cli.cli.name}", run_command=SERVER,
                        container_ports=PORT)  # fmt: skip
    outer = container["container_ports"][0]["outer_port"]

    listed, quiet = cli.run_all(
        ("container", "ps", "--no-trunc"), ("container", "ps", "-q", "--status", "Running")
    )

    [row] = [row for row in rows(listed) if row["UUID"] == container["uuid"]]
    assert (row["NAME"], row["STATUS"], row["STACK"]) == (container["name"], "▶ Running", "")
    assert (row["PORTS"], row["NODE"]) == (f"{NODE_NAME}:{outer}->80/tcp", plane.node_uuid), listed
    assert container["uuid"] in succeeded(quiet)


def test_logs_print_the_containers_stdout_and_stderr_apart(
    cli: InstalledCli, alice: ApiClient, image: str
) -> None:
    container = running(alice, name=f"logged-{cli.cli.name}", run_command=SERVER)
    wait_for(lambda: "err-line" in alice.logs(container["uuid"]))  # there before the CLI asks

    logs = cli.run("container", "logs", container["uuid"][:8])

    assert (logs.exit_code, logs.stdout, logs.stderr) == (0, "out-line\n", "err-line\n"), logs


# --- commands that wait for work on the nodes: containers, services, stacks ----------------


@pytest.fixture
def stackfile(tmp_path: Path, image: str) -> Path:
    path = tmp_path / "stack.yml"
    path.write_text(
        f"web:\n  image: {image}\n  command: sleep 3600\n  ports:\n    - '80'\n"
        "  target_num_containers: 1\n"
    )
    return path


def test_the_commands_that_wait_for_work_on_the_nodes_all_at_once(
    make_cli: Callable[[str], InstalledCli],
    plane: Plane,
    image: str,
    stackfile: Path,
    docker_client: docker.DockerClient,
) -> None:
    """Each CLI drives a container through every action, runs, scales and terminates a service,
    and brings a stack up and down, all with `--sync`; the six flows run at once, each on
    objects of its own and with an HTTP client of its own. Every `--sync` waits out the CLI's
    4 s poll, so one after the other they took over a minute; at once, the 20 s of the longest."""
    flows: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
    for name in CLIS:
        cli = make_cli(name)
        flows += [
            (container_cycle, (cli, plane.client("alice"), docker_client)),
            (service_flow, (cli, plane.client("alice"), image)),
            (stack_flow, (cli, plane.client("alice"), stackfile)),
        ]
    with ThreadPoolExecutor(len(flows)) as pool:
        for done in [pool.submit(flow, *args) for flow, args in flows]:
            done.result()


def container_cycle(
    cli: InstalledCli, alice: ApiClient, docker_client: docker.DockerClient
) -> None:
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


def service_flow(cli: InstalledCli, alice: ApiClient, image: str) -> None:
    """`run --sync`, then `service ps`, `service scale --sync` by name and `service terminate
    --sync` by short id."""
    name = f"ran-{cli.cli.name}"
    run = ["run"] if cli.cli is legacy_cli.TUTUM else ["service", "run"]
    uuid = synced_new(cli.run(*run, "-n", name, "-t", "1", "-r", "sleep 3600", "--sync", image))
    service_uri = f"/api/v1/service/{uuid}/"

    def running_with(count: int) -> Callable[[], bool]:
        def check() -> bool:
            body = alice.request("GET", service_uri).json()
            return bool((body["state"], body["running_num_containers"]) == ("Running", count))

        return check

    wait_for(running_with(1), timeout=60)
    [row] = [row for row in rows(cli.run("service", "ps")) if row["NAME"] == name]
    assert (row["UUID"], row["STATUS"], row["#CONTAINERS"]) == (uuid[:8], "▶ Running", "1"), row
    assert row["PUBLIC DNS"] == NODE_NAME, row

    synced(cli.run("service", "scale", "--sync", name, "2"), uuid)
    wait_for(running_with(2), timeout=60)
    [row] = [row for row in rows(cli.run("service", "ps")) if row["NAME"] == name]
    assert row["#CONTAINERS"] == "2", row

    synced(cli.run("service", "terminate", "--sync", uuid[:8]), uuid)
    assert alice.request("GET", service_uri).json()["state"] == "Terminated"


def stack_flow(cli: InstalledCli, alice: ApiClient, stackfile: Path) -> None:
    """`stack up -f --sync`, then the stack, its service and its container as the CLI lists
    them, and `stack terminate --sync`."""
    name = f"shop-{cli.cli.name}"
    stack_uuid = synced_new(cli.run("stack", "up", "-n", name, "-f", str(stackfile), "--sync"))
    stack_uri = f"/api/v1/stack/{stack_uuid}/"
    wait_for(lambda: alice.request("GET", stack_uri).json()["state"] == "Running", timeout=60)

    stacks, services = cli.run_all(("stack", ls(cli)), ("service", "ps", "--stack", name))
    [stack] = [row for row in rows(stacks) if row["NAME"] == name]
    assert (stack["UUID"], stack["STATUS"]) == (stack_uuid[:8], "▶ Running"), stacks
    [web] = rows(services)
    assert (web["NAME"], web["STATUS"], web["#CONTAINERS"]) == ("web", "▶ Running", "1"), services
    assert (web["PUBLIC DNS"], web["STACK"]) == (NODE_NAME, name), services

    # The service by its short uuid; its container named after it (its unique name is web-2-1
    # while the other CLI's stack has a web too), in the stack, its port at the node's name.
    [container] = rows(cli.run("container", "ps", "--service", web["UUID"], "--no-trunc"))
    assert (container["NAME"], container["STACK"]) == ("web-1", name), container
    assert re.fullmatch(rf"{NODE_NAME}:\d+->80/tcp", container["PORTS"]), container

    synced(cli.run("stack", "terminate", "--sync", stack_uuid), stack_uuid)
    assert alice.request("GET", stack_uri).json()["state"] == "Terminated"


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


# --- exec ---------------------------------------------------------------------------------------


def test_exec_runs_a_command_in_the_container(
    cli: InstalledCli, alice: ApiClient, image: str
) -> None:
    container = running(alice, name=f"exec-{cli.cli.name}", run_command="sleep 3600")
    ran = cli.run("exec", container["uuid"][:8], "echo", "hello")
    assert (ran.exit_code, ran.stdout) == (0, "hello\n"), ran
