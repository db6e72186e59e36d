"""Container options end to end: each create option is read back from the real Docker container;
published ports, and the operator's veto on dangerous options (redeploys and their volumes are in
test_redeploy.py).

The session's API allows every dangerous option (tests/support/plane.py), so those options can be
checked on Docker; the `strict` API is a second API process over the same database with the
default settings, which refuse them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from tests.support.api import ApiClient
from tests.support.containers import SLEEP, docker_containers, running_container
from tests.support.locations import IMAGE
from tests.support.plane import Plane
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def strict(plane: Plane) -> Callable[[str], ApiClient]:
    """Clients of an API that runs with the default settings: no dangerous option allowed."""
    base_url = plane.start_api("api-strict", CONTROLPLANE_ALLOW_DANGEROUS="")
    return lambda username: plane.client(username, base_url)


# --- every option lands on Docker ------------------------------------------------------------


def test_every_plain_option_reaches_the_docker_container(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    options: dict[str, Any] = {
        "name": "options",
        "entrypoint": "/bin/sh -c",
        "run_command": '"hostname; cat /etc/hosts; exec sleep 3600"',
        "working_dir": "/tmp",
        "container_envvars": [{"key": "GREETING", "value": "hi"}],
        "labels": {"team": "blue"},
        "memory": 64,
        "memory_swap": 128,
        "cpu_shares": 512,
        "cpuset": "0",
        "user": "1000:1000",
        "hostname": "web1",
        "domainname": "example.org",
        "mac_address": "02:42:ac:11:ff:ee",
        "tty": True,
        "stdin_open": True,
        "read_only": True,
        "dns": ["10.0.0.2"],
        "dns_search": ["example.org"],
        "extra_hosts": ["db:10.0.0.5"],
        "net": "bridge",
        "pid": "none",
        "cap_drop": ["MKNOD", "NET_RAW"],
        "security_opt": ["no-new-privileges"],
        "autorestart": "ON_FAILURE",
        "autodestroy": "ON_SUCCESS",
    }
    body, container = running_container(alice, docker_client, **options)
    assert {name: body[name] for name in options} == options

    config, host = container.attrs["Config"], container.attrs["HostConfig"]
    assert config["Entrypoint"] == ["/bin/sh", "-c"]
    assert config["Cmd"] == ["hostname; cat /etc/hosts; exec sleep 3600"]
    assert config["WorkingDir"] == "/tmp"
    assert "GREETING=hi" in config["Env"]
    assert config["Labels"]["team"] == "blue"
    assert config["User"] == "1000:1000"
    assert (config["Hostname"], config["Domainname"]) == ("web1", "example.org")
    assert config["MacAddress"] == "02:42:ac:11:ff:ee"
    assert (config["Tty"], config["OpenStdin"]) == (True, True)
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["MemorySwap"] == 128 * 1024 * 1024
    assert host["CpuShares"] == 512
    assert host["CpusetCpus"] == "0"
    assert host["ReadonlyRootfs"] is True
    assert host["Dns"] == ["10.0.0.2"]
    assert host["DnsSearch"] == ["example.org"]
    assert host["ExtraHosts"] == ["db:10.0.0.5"]
    assert host["NetworkMode"] == "bridge"
    assert host["PidMode"] == ""
    assert host["CapDrop"] == ["MKNOD", "NET_RAW"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Privileged"] is False
    assert host["RestartPolicy"]["Name"] == "on-failure"
    mac = container.attrs["NetworkSettings"]["Networks"]["bridge"]["MacAddress"]
    assert mac == "02:42:ac:11:ff:ee"
    # The process itself sees them: its host name, and the extra host in /etc/hosts.
    logs = wait_for(lambda: (text := alice.logs(body["uuid"])) and "db" in text and text)
    assert "web1" in logs
    assert "10.0.0.5\tdb" in logs


def test_dangerous_options_reach_the_docker_container_when_allowed(
    alice: ApiClient, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    (tmp_path / "greeting").write_text("from the host\n")
    body, container = running_container(
        alice,
        docker_client,
        name="powerful",
        run_command=f"sh -c 'cat /host/greeting; exec {SLEEP}'",
        cap_add=["NET_ADMIN", "cap_sys_time"],
        devices=["/dev/zero:/dev/cpzero:r"],
        security_opt=["seccomp=unconfined"],
        bindings=[{"host_path": str(tmp_path), "container_path": "/host", "rewritable": False}],
    )
    assert body["cap_add"] == ["NET_ADMIN", "SYS_TIME"]
    assert body["bindings"] == [
        {"host_path": str(tmp_path), "container_path": "/host", "rewritable": False, "volume": None}
    ]
    host = container.attrs["HostConfig"]
    assert host["CapAdd"] == ["NET_ADMIN", "SYS_TIME"]
    assert host["Devices"] == [
        {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/cpzero", "CgroupPermissions": "r"}
    ]
    assert host["SecurityOpt"] == ["seccomp=unconfined"]
    [mount] = container.attrs["Mounts"]
    assert (mount["Type"], mount["Destination"], mount["RW"]) == ("bind", "/host", False)
    assert mount["Source"] == str(tmp_path)
    wait_for(lambda: "from the host" in alice.logs(body["uuid"]))


@pytest.fixture(scope="module")
def host_grants_every_capability(docker_client: docker.DockerClient) -> bool:
    """Whether this Docker host can run a privileged container at all: one inside a container
    or a restricted VM may lack capabilities (such as SYS_RESOURCE) that `privileged` asks for."""
    probe = docker_client.containers.create(IMAGE, ["true"], privileged=True)
    try:
        probe.start()
    except docker.errors.APIError:
        return False
    finally:
        probe.remove(force=True)
    return True


def test_privileged_reaches_docker_when_allowed(
    alice: ApiClient, docker_client: docker.DockerClient, host_grants_every_capability: bool
) -> None:
    created = alice.create(name="privileged", run_command=SLEEP, privileged=True)
    started = alice.act(created["uuid"], "start")
    action = alice.wait_action(started.headers["X-Tutum-Action-URI"])
    if host_grants_every_capability:
        assert action["state"] == "Success", action
        [container] = docker_containers(docker_client, created["uuid"])
        assert container.attrs["HostConfig"]["Privileged"] is True
    else:
        # Docker tried to grant every capability and the host refused: the option reached
        # Docker, and the failure took the usual path back to Init with Docker's reason.
        assert action["state"] == "Failed"
        assert "caps" in action["reason"]
        assert alice.wait_state(created["uuid"], "Init")["privileged"] is True
        assert docker_containers(docker_client, created["uuid"]) == []


def test_host_network_and_pid_namespace_when_allowed(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    # A sleeping container in the host's namespaces: harmless, and it changes nothing there.
    body, container = running_container(
        alice, docker_client, name="hostns", run_command=SLEEP, net="host", pid="host"
    )
    assert (body["net"], body["pid"]) == ("host", "host")
    host = container.attrs["HostConfig"]
    assert (host["NetworkMode"], host["PidMode"]) == ("host", "host")


# --- ports -----------------------------------------------------------------------------------


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        return conn.recv(64)


def test_published_ports_are_bound_on_loopback_and_the_api_shows_the_real_port(
    alice: ApiClient, docker_client: docker.DockerClient
) -> None:
    fixed = free_udp_port()
    body, container = running_container(
        alice,
        docker_client,
        name="ports",
        run_command="sh -c 'while true; do echo banner | nc -l -p 8080; done'",
        container_ports=[
            {"protocol": "tcp", "inner_port": 8080, "outer_port": None},
            {"protocol": "udp", "inner_port": 5353, "outer_port": fixed},
            {"protocol": "tcp", "inner_port": 9000, "published": False},
        ],
    )
    bound = container.attrs["NetworkSettings"]["Ports"]
    [tcp] = bound["8080/tcp"]
    [udp] = bound["5353/udp"]
    assert tcp["HostIp"] == udp["HostIp"] == "127.0.0.1"
    assert int(udp["HostPort"]) == fixed
    assert bound["9000/tcp"] is None
    assert "9000/tcp" in container.attrs["Config"]["ExposedPorts"]

    picked = int(tcp["HostPort"])
    ports = {(p["inner_port"], p["protocol"]): p for p in body["container_ports"]}
    assert ports[(8080, "tcp")]["outer_port"] == picked
    assert ports[(8080, "tcp")]["endpoint_uri"] == f"tcp://127.0.0.1:{picked}/"
    assert ports[(8080, "tcp")]["published"] is True
    assert ports[(5353, "udp")]["outer_port"] == fixed
    assert ports[(5353, "udp")]["endpoint_uri"] == f"udp://127.0.0.1:{fixed}/"
    assert ports[(9000, "tcp")]["outer_port"] is None
    assert ports[(9000, "tcp")]["endpoint_uri"] is None
    assert ports[(9000, "tcp")]["published"] is False
    # The reported port is the one that answers.
    assert wait_for(lambda: read_banner(picked)) == b"banner\n"

    alice.act(body["uuid"], "stop")
    stopped = alice.wait_state(body["uuid"], "Stopped")
    ports = {(p["inner_port"], p["protocol"]): p for p in stopped["container_ports"]}
    assert ports[(8080, "tcp")]["outer_port"] is None  # Docker may pick another next time
    assert ports[(8080, "tcp")]["endpoint_uri"] is None
    assert ports[(5353, "udp")]["outer_port"] == fixed


# --- the operator's veto ---------------------------------------------------------------------

DANGEROUS_CREATES: list[tuple[dict[str, Any], str, str]] = [
    ({"privileged": True}, "privileged", "privileged"),
    ({"net": "host"}, "net", "net_host"),
    ({"pid": "host"}, "pid", "pid_host"),
    ({"devices": ["/dev/zero"]}, "devices", "devices"),
    ({"cap_add": ["NET_ADMIN"]}, "cap_add", "cap_add"),
    ({"bindings": [{"host_path": "/etc", "container_path": "/x"}]}, "bindings", "host_bindings"),
    ({"security_opt": ["apparmor=unconfined"]}, "security_opt", "security_opt"),
]


@pytest.mark.parametrize(
    ("fields", "field", "option"), DANGEROUS_CREATES, ids=[c[2] for c in DANGEROUS_CREATES]
)
def test_a_dangerous_option_is_refused_with_403_unless_the_operator_allows_it(
    strict: Callable[[str], ApiClient], fields: dict[str, Any], field: str, option: str
) -> None:
    client = strict("alice")
    before = client.request("GET", "/api/v1/container/").json()["meta"]["total_count"]
    refused = client.request(
        "POST", "/api/v1/container/", json={"image_name": "controlplane/busybox", **fields}
    )
    assert refused.status_code == 403, refused.text
    error = refused.json()
    assert (error["code"], error["field"]) == ("dangerous-option-forbidden-error", field)
    assert f"CONTROLPLANE_ALLOW_DANGEROUS={option}" in error["error"]
    assert client.request("GET", "/api/v1/container/").json()["meta"]["total_count"] == before


def test_safe_options_are_accepted_by_the_strict_api(
    strict: Callable[[str], ApiClient],
) -> None:
    created = strict("alice").create(
        name="safe",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        bindings=[{"container_path": "/data", "volume": "safe"}],
    )
    assert created["state"] == "Init"


def test_a_start_is_refused_where_the_operator_does_not_allow_the_option(
    alice: ApiClient, strict: Callable[[str], ApiClient], docker_client: docker.DockerClient
) -> None:
    created = alice.create(name="was-allowed", run_command=SLEEP, privileged=True)
    refused = strict("alice").act(created["uuid"], "start")
    assert refused.status_code == 403
    assert refused.json()["field"] == "privileged"
    assert alice.container(created["uuid"])["state"] == "Init"
    assert docker_containers(docker_client, created["uuid"]) == []
