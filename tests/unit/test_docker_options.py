"""workers.docker.options: the docker-py arguments for a spec, as pure functions (no Docker)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from docker.models.containers import Container
from docker.types import HostConfig

from controlplane.core.messages import (
    LABEL_AUTODESTROY,
    LABEL_CONTAINER_UUID,
    LABEL_NODE_UUID,
    ContainerSpec,
)
from workers.docker.options import RESTART_POLICIES, create_options, keeping_volumes, megabytes

NODE_UUID = "6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01"
CONTAINER_UUID = "0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b"


def options_for(spec: ContainerSpec, *, publish_ip: str = "127.0.0.1") -> dict[str, Any]:
    return create_options(spec, node_uuid=NODE_UUID, publish_ip=publish_ip)


def spec(**fields: object) -> ContainerSpec:
    values: dict[str, object] = {
        "uuid": CONTAINER_UUID,
        "unique_name": "web-0b6e3f2a",
        "image_name": "busybox:latest",
    }
    values.update(fields)
    return ContainerSpec.from_dict(values)


def test_a_minimal_spec_leaves_docker_defaults_alone() -> None:
    assert options_for(spec()) == {
        "image": "busybox:latest",
        "name": "web-0b6e3f2a",
        "command": None,
        "entrypoint": None,
        "environment": {},
        "working_dir": None,
        "user": None,
        "hostname": None,
        "domainname": None,
        "mac_address": None,
        "labels": {
            LABEL_CONTAINER_UUID: CONTAINER_UUID,
            LABEL_NODE_UUID: NODE_UUID,
            LABEL_AUTODESTROY: "OFF",
        },
        "tty": False,
        "stdin_open": False,
        "detach": True,
        "ports": [],
        "networking_config": None,
        "host_config": {
            "port_bindings": {},
            "mem_limit": None,
            "memswap_limit": None,
            "cpu_shares": None,
            "cpuset_cpus": None,
            "read_only": False,
            "privileged": False,
            "network_mode": "bridge",
            "pid_mode": None,
            "dns": None,
            "dns_search": None,
            "extra_hosts": None,
            "cap_add": None,
            "cap_drop": None,
            "devices": None,
            "security_opt": None,
            "mounts": [],
            "restart_policy": None,
            "init": True,
        },
    }


def test_a_full_spec_becomes_docker_arguments() -> None:
    options = options_for(
        spec(
            run_command="sleep 60",
            entrypoint="/bin/sh -c",
            working_dir="/srv",
            container_envvars=[{"key": "A", "value": "1"}, {"key": "B", "value": ""}],
            labels={"team": "core"},
            memory=64,
            cpu_shares=512,
            autorestart="ON_FAILURE",
        )
    )
    assert options["command"] == "sleep 60"
    assert options["entrypoint"] == "/bin/sh -c"
    assert options["working_dir"] == "/srv"
    assert options["environment"] == {"A": "1", "B": ""}
    assert options["labels"]["team"] == "core"
    assert options["host_config"]["mem_limit"] == "64m"
    assert options["host_config"]["cpu_shares"] == 512
    assert options["host_config"]["restart_policy"] == {"Name": "on-failure"}


def test_every_option_becomes_its_docker_argument() -> None:
    options = options_for(
        spec(
            memory=64,
            memory_swap=128,
            cpuset="0-1",
            user="nobody:nogroup",
            hostname="web1",
            domainname="example.org",
            mac_address="02:42:ac:11:ff:ee",
            tty=True,
            stdin_open=True,
            read_only=True,
            privileged=True,
            dns=["10.0.0.2"],
            dns_search=["example.org"],
            extra_hosts=["db:10.0.0.5"],
            net="host",
            pid="host",
            cap_add=["NET_ADMIN"],
            cap_drop=["MKNOD"],
            devices=["/dev/zero:/dev/cpzero:r"],
            security_opt=["no-new-privileges"],
        )
    )
    assert {name: options[name] for name in CONTAINER_ARGUMENTS} == {
        "user": "nobody:nogroup",
        "hostname": "web1",
        "domainname": "example.org",
        "mac_address": "02:42:ac:11:ff:ee",
        "tty": True,
        "stdin_open": True,
    }
    assert {name: options["host_config"][name] for name in HOST_ARGUMENTS} == {
        "memswap_limit": "128m",
        "cpuset_cpus": "0-1",
        "read_only": True,
        "privileged": True,
        "dns": ["10.0.0.2"],
        "dns_search": ["example.org"],
        "extra_hosts": ["db:10.0.0.5"],
        "network_mode": "host",
        "pid_mode": "host",
        "cap_add": ["NET_ADMIN"],
        "cap_drop": ["MKNOD"],
        "devices": ["/dev/zero:/dev/cpzero:r"],
        "security_opt": ["no-new-privileges"],
    }


CONTAINER_ARGUMENTS = ("user", "hostname", "domainname", "mac_address", "tty", "stdin_open")
HOST_ARGUMENTS = (
    "memswap_limit",
    "cpuset_cpus",
    "read_only",
    "privileged",
    "dns",
    "dns_search",
    "extra_hosts",
    "network_mode",
    "pid_mode",
    "cap_add",
    "cap_drop",
    "devices",
    "security_opt",
)


def test_the_control_plane_labels_cannot_be_overridden_by_user_labels() -> None:
    options = options_for(
        spec(
            labels={
                LABEL_CONTAINER_UUID: "forged",
                LABEL_NODE_UUID: "forged",
                LABEL_AUTODESTROY: "ALWAYS",
            }
        )
    )
    assert options["labels"][LABEL_CONTAINER_UUID] == CONTAINER_UUID
    assert options["labels"][LABEL_NODE_UUID] == NODE_UUID
    assert options["labels"][LABEL_AUTODESTROY] == "OFF"


@pytest.mark.parametrize(
    ("autorestart", "policy"),
    [("OFF", None), ("ON_FAILURE", {"Name": "on-failure"}), ("ALWAYS", {"Name": "always"})],
)
def test_every_autorestart_value_has_a_restart_policy(
    autorestart: str, policy: dict[str, str] | None
) -> None:
    options = options_for(spec(autorestart=autorestart))
    assert options["host_config"]["restart_policy"] == policy


def test_the_restart_policies_cover_exactly_the_accepted_autorestart_values() -> None:
    from controlplane.core.validation import AUTORESTART_VALUES

    assert set(RESTART_POLICIES) == set(AUTORESTART_VALUES)


def test_unlimited_swap_is_passed_as_minus_one() -> None:
    options = options_for(spec(memory=64, memory_swap=-1))
    assert options["host_config"]["memswap_limit"] == -1


def test_every_port_is_exposed_and_only_published_ones_are_bound() -> None:
    ports = [
        {"protocol": "tcp", "inner_port": 80, "outer_port": None, "published": True},
        {"protocol": "udp", "inner_port": 53, "outer_port": 5353, "published": True},
        {"protocol": "tcp", "inner_port": 9000, "outer_port": None, "published": False},
    ]
    options = options_for(spec(container_ports=ports), publish_ip="10.1.2.3")
    assert options["ports"] == [(80, "tcp"), (53, "udp"), (9000, "tcp")]
    # No entry at all for 9000: an empty binding list makes Docker 20.10 bind another port twice.
    assert options["host_config"]["port_bindings"] == {
        "80/tcp": ("10.1.2.3", None),
        "53/udp": ("10.1.2.3", 5353),
    }


def test_bindings_become_bind_and_volume_mounts() -> None:
    bindings = [
        {"host_path": "/srv/www", "container_path": "/www", "rewritable": False, "volume": None},
        {"host_path": None, "container_path": "/data", "rewritable": True, "volume": "cp-u1-d"},
        {"host_path": None, "container_path": "/cache", "rewritable": True, "volume": None},
    ]
    mounts = options_for(spec(bindings=bindings))["host_config"]["mounts"]
    assert [dict(mount) for mount in mounts] == [
        {"Target": "/www", "Source": "/srv/www", "Type": "bind", "ReadOnly": True},
        {"Target": "/data", "Source": "cp-u1-d", "Type": "volume", "ReadOnly": False},
        {"Target": "/cache", "Source": None, "Type": "volume", "ReadOnly": False},
    ]


def test_a_redeploy_keeping_volumes_mounts_the_old_containers_volumes() -> None:
    bindings = [
        {"host_path": None, "container_path": "/anon", "rewritable": True, "volume": None},
        {"host_path": None, "container_path": "/named", "rewritable": True, "volume": "cp-u1-d"},
        {"host_path": "/srv", "container_path": "/srv", "rewritable": False, "volume": None},
        {"host_path": None, "container_path": "/added", "rewritable": True, "volume": None},
    ]
    # What `docker inspect` says of the old container: docker-py's own model over that data.
    previous = Container(
        attrs={
            "Id": "0123456789ab",
            "Mounts": [
                {"Type": "volume", "Name": "f00", "Destination": "/anon"},
                {"Type": "volume", "Name": "cp-u1-d", "Destination": "/named"},
                {"Type": "bind", "Source": "/srv", "Destination": "/srv"},
            ],
        }
    )
    host_config = keeping_volumes(options_for(spec(bindings=bindings)), previous)["host_config"]
    assert host_config["volumes_from"] == ["0123456789ab"]
    # The old anonymous volume comes through volumes_from; a new one would hide it.
    assert [mount["Target"] for mount in host_config["mounts"]] == ["/named", "/srv", "/added"]


def test_docker_py_takes_every_host_config_argument() -> None:
    ports = [{"protocol": "tcp", "inner_port": 80, "outer_port": 8080, "published": True}]
    bindings = [{"host_path": None, "container_path": "/d", "rewritable": True, "volume": None}]
    options = options_for(
        spec(memory=64, memory_swap=-1, cpu_shares=512, container_ports=ports, bindings=bindings)
    )
    # Built offline, exactly as docker-py builds it before sending it to Docker.
    host_config = HostConfig(version="1.41", **options["host_config"])
    assert host_config["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert (host_config["Memory"], host_config["MemorySwap"]) == (64 * 1024 * 1024, -1)
    assert host_config["Init"] is True


def test_keeping_volumes_leaves_the_options_it_is_given_alone() -> None:
    bindings = [{"host_path": None, "container_path": "/d", "rewritable": True, "volume": None}]
    given = options_for(spec(bindings=bindings))
    previous = Container(attrs={"Id": "0123456789ab", "Mounts": [{"Destination": "/d"}]})
    keeping_volumes(given, previous)
    assert given == options_for(spec(bindings=bindings))


@pytest.mark.parametrize(("size", "argument"), [(None, None), (64, "64m"), (-1, -1)])
def test_a_size_in_megabytes_is_passed_as_docker_py_takes_it(
    size: int | None, argument: int | str | None
) -> None:
    assert megabytes(size) == argument


def test_a_spec_with_a_network_joins_it_with_its_aliases() -> None:
    spec = ContainerSpec(
        uuid="u",
        unique_name="web-1-abc",
        image_name="busybox",
        network="cp-u1",
        network_aliases=["web", "web-1"],
    )
    options = create_options(spec, node_uuid="n", publish_ip="127.0.0.1")
    assert options["host_config"]["network_mode"] == "cp-u1"
    assert options["networking_config"] == {
        "EndpointsConfig": {"cp-u1": {"Aliases": ["web", "web-1"]}}
    }
    host = replace(spec, net="host")
    options = create_options(host, node_uuid="n", publish_ip="127.0.0.1")
    assert options["host_config"]["network_mode"] == "host"
    assert options["networking_config"] is None
