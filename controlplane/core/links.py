"""Service links: the environment a linking container gets, and the network names links use.

A service's containers join their owner's user-defined Docker network on their node
(`network_name`), where each answers to its service's unique name and its own. A link from one
service to another gives the linking containers the variables Docker's legacy links gave, under
the link's alias, pointing at the linked service's name on that network:
`DB_PORT_5432_TCP=tcp://db:5432`, `DB_PORT_5432_TCP_ADDR=db`, `..._PORT`, `..._PROTO`,
`DB_PORT` (the first port) and `DB_ENV_<KEY>` for each of the linked service's variables.
`linked_definition` puts both into a container's definition. Pure and stdlib-only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

_NOT_ENV = re.compile(r"[^A-Za-z0-9_]")


def network_name(owner_id: int) -> str:
    """The Docker network of an owner's service containers: the same name on every node, and
    no other owner's containers on it."""
    return f"cp-u{owner_id}"


def env_prefix(alias: str) -> str:
    """A link alias as the start of a variable name: upper case, `-` and `.` as `_`."""
    return _NOT_ENV.sub("_", alias).upper()


def link_variables(
    alias: str, host: str, ports: list[dict[str, Any]], envvars: list[dict[str, str]]
) -> list[dict[str, str]]:
    """The variables a link named `alias` to the service reached as `host` gives, for the
    linked service's ports (`container_ports` items) and variables."""
    prefix = env_prefix(alias)
    found: list[tuple[str, str]] = []
    for index, port in enumerate(ports):
        number, protocol = port["inner_port"], port["protocol"]
        url = f"{protocol}://{host}:{number}"
        name = f"{prefix}_PORT_{number}_{protocol.upper()}"
        if index == 0:
            found.append((f"{prefix}_PORT", url))
        found += [
            (name, url),
            (f"{name}_ADDR", host),
            (f"{name}_PORT", str(number)),
            (f"{name}_PROTO", protocol),
        ]
    found += [(f"{prefix}_ENV_{var['key']}", var["value"]) for var in envvars]
    return [{"key": key, "value": value} for key, value in found]


class LinkedService(Protocol):
    """A service a link reaches, as its variables need it."""

    @property
    def unique_name(self) -> str: ...

    @property
    def definition(self) -> Mapping[str, Any]: ...


def linked_definition(
    definition: Mapping[str, Any],
    *,
    owner_id: int,
    aliases: Sequence[str],
    linked: Iterable[tuple[str, LinkedService]],
) -> dict[str, Any]:
    """A container's definition with its service's links: on the bridge, the owner's network,
    where the container answers to `aliases`; each link's variables (`linked`: alias and
    service, in the links' order) before the definition's own, so the owner's may override
    them."""
    result = dict(definition)
    bridged = result.get("net", "bridge") == "bridge"
    variables = [
        variable
        for alias, target in linked
        for variable in link_variables(
            alias,
            target.unique_name,
            target.definition.get("container_ports", []),
            target.definition.get("container_envvars", []),
        )
    ]
    result["container_envvars"] = [*variables, *result.get("container_envvars", [])]
    result["network"] = network_name(owner_id) if bridged else ""
    result["network_aliases"] = list(aliases) if bridged else []
    return result
