"""How a `ContainerSpec` becomes docker-py's create arguments: labels, ports and their bindings,
mounts, sizes and restart policies.

Pure functions of the spec and the node's settings, so the mapping is tested without a Docker
Engine. It imports docker-py only for its `Mount` type and must not import a client, the rest of
this package or the agent's other modules.
"""

from __future__ import annotations

from typing import Any

from docker.models.containers import Container
from docker.types import Mount

from controlplane.core.messages import (
    LABEL_AUTODESTROY,
    LABEL_CONTAINER_UUID,
    LABEL_NODE_UUID,
    ContainerSpec,
)

RESTART_POLICIES: dict[str, dict[str, str] | None] = {
    "OFF": None,
    "ON_FAILURE": {"Name": "on-failure"},
    "ALWAYS": {"Name": "always"},
}


def create_options(spec: ContainerSpec, *, node_uuid: str, publish_ip: str) -> dict[str, Any]:
    """docker-py low-level `create_container` arguments for a spec on node `node_uuid`, with the
    arguments of `create_host_config` under "host_config". Empty options are passed as None so
    Docker's own defaults apply. `init` runs docker-init as PID 1, so a stop takes milliseconds
    instead of the whole timeout for shells that ignore SIGTERM.

    The low-level call is used because it can expose a port without binding it (`ports`
    lists every port, `port_bindings` only the published ones); the high-level
    `containers.create` can only express that with an empty binding list, which Docker
    20.10 mishandles (its nat.SortPortMap then binds another port twice).
    """
    labels = {
        **spec.labels,
        LABEL_CONTAINER_UUID: spec.uuid,
        LABEL_NODE_UUID: node_uuid,
        LABEL_AUTODESTROY: spec.autodestroy,
    }
    return {
        "image": spec.image_name,
        "name": spec.unique_name,
        "command": spec.run_command or None,
        "entrypoint": spec.entrypoint or None,
        "environment": {var["key"]: var["value"] for var in spec.container_envvars},
        "working_dir": spec.working_dir or None,
        "user": spec.user or None,
        "hostname": spec.hostname or None,
        "domainname": spec.domainname or None,
        "mac_address": spec.mac_address or None,
        "labels": labels,
        "tty": spec.tty,
        "stdin_open": spec.stdin_open,
        "detach": True,
        "ports": [(port["inner_port"], port["protocol"]) for port in spec.container_ports],
        "networking_config": networking_config(spec),
        "host_config": {
            "port_bindings": port_bindings(spec.container_ports, publish_ip),
            "mem_limit": megabytes(spec.memory),
            "memswap_limit": megabytes(spec.memory_swap),
            "cpu_shares": spec.cpu_shares,
            "cpuset_cpus": spec.cpuset or None,
            "read_only": spec.read_only,
            "privileged": spec.privileged,
            "network_mode": network_mode(spec),
            "pid_mode": "host" if spec.pid == "host" else None,
            "dns": spec.dns or None,
            "dns_search": spec.dns_search or None,
            "extra_hosts": spec.extra_hosts or None,
            "cap_add": spec.cap_add or None,
            "cap_drop": spec.cap_drop or None,
            "devices": spec.devices or None,
            "security_opt": spec.security_opt or None,
            "mounts": [mount(binding) for binding in spec.bindings],
            "restart_policy": RESTART_POLICIES[spec.autorestart],
            "init": True,
        },
    }


def joins_network(spec: ContainerSpec) -> bool:
    """Whether the container joins a user-defined network: only from the bridge mode (host
    and none have no network of their own to put it on)."""
    return bool(spec.network) and spec.net == "bridge"


def network_mode(spec: ContainerSpec) -> str:
    return spec.network if joins_network(spec) else spec.net


def networking_config(spec: ContainerSpec) -> dict[str, Any] | None:
    """The Engine API's NetworkingConfig: the container's aliases on its network, which its
    network's DNS answers for every container of the network."""
    if not joins_network(spec):
        return None
    return {"EndpointsConfig": {spec.network: {"Aliases": list(spec.network_aliases)}}}


def keeping_volumes(options: dict[str, Any], previous: Container) -> dict[str, Any]:
    """Create `options` changed to mount every volume of `previous` at the same place. Its
    anonymous volumes come through `volumes_from`, which keeps them anonymous (removed with the
    new container later); the spec's own anonymous volumes at those places are left out, or
    they would hide the old data under new empty volumes."""
    host_config = options["host_config"]
    carried = {old["Destination"] for old in previous.attrs.get("Mounts") or ()}
    return {
        **options,
        "host_config": {
            **host_config,
            "mounts": [
                new
                for new in host_config["mounts"]
                if new["Source"] is not None or new["Target"] not in carried
            ],
            "volumes_from": [previous.id],
        },
    }


def port_bindings(ports: list[dict[str, Any]], publish_ip: str) -> dict[str, Any]:
    """docker-py `port_bindings`: each published port bound on the agent's publish address
    (a None outer port lets Docker pick a free one). Unpublished ports are only exposed."""
    return {
        f"{port['inner_port']}/{port['protocol']}": (publish_ip, port["outer_port"])
        for port in ports
        if port["published"]
    }


def megabytes(value: int | None) -> int | str | None:
    """A size in MB as docker-py takes it; -1 (no swap limit) passes through."""
    if value is None or value < 0:
        return value
    return f"{value}m"


def mount(binding: dict[str, Any]) -> Mount:
    """A binding as a Docker mount: a host path is a bind mount; a named volume, or neither (a
    new anonymous volume), a volume mount. A missing host path fails the create (Docker's
    mounts API does not create it, unlike the old `-v`)."""
    host_path = binding["host_path"]
    return Mount(
        target=binding["container_path"],
        source=host_path or binding["volume"],
        type="bind" if host_path else "volume",
        read_only=not binding["rewritable"],
    )
