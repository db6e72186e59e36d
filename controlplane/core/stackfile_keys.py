"""How each key of a stackfile is read (`controlplane.core.stackfile`): the table of the keys
this control plane takes, each with the service body field it fills and the function that reads
its value, refusing what it cannot take with an `InvalidInputError` about `service.key[item]`;
and the keys it does not take, with why.

Every reader takes `(where, value)`: where names the key for an error, and a value is what
`controlplane.core.stackfile_yaml` made of it (an unquoted scalar keeps its text, a `Plain`).
Pure: the standard library, PyYAML and `controlplane.core` only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import yaml
from yaml.nodes import ScalarNode

from controlplane.core.errors import InvalidInputError
from controlplane.core.scheduler import EMPTIEST_NODE, EVERY_NODE, HIGH_AVAILABILITY
from controlplane.core.stackfile_yaml import (
    BOOL_TAG,
    INT_TAG,
    MAX_INTEGER_CHARS,
    Plain,
    kind,
    quote,
)
from controlplane.core.validation import NAME


def _string(where: str, value: Any) -> str:
    """A scalar's text as written: `0`, `no` and `8080:80` unquoted are the strings they look
    like."""
    if isinstance(value, str):
        return value
    if isinstance(value, Plain):
        return value.text
    raise InvalidInputError(where, f"must be a string, not {kind(value)}")


def _flag(where: str, value: Any) -> bool:
    if isinstance(value, Plain) and value.tag == BOOL_TAG:
        return value.text.lower() in ("true", "yes", "on")
    raise InvalidInputError(where, f"must be true or false, not {kind(value)}")


def _integer(where: str, value: Any) -> int:
    if not (isinstance(value, Plain) and value.tag == INT_TAG):
        raise InvalidInputError(where, f"must be an integer, not {kind(value)}")
    if len(value.text) > MAX_INTEGER_CHARS:
        raise InvalidInputError(where, f"is too large ({len(value.text)} characters)")
    number: int = yaml.constructor.SafeConstructor().construct_yaml_int(
        ScalarNode(INT_TAG, value.text)
    )
    return number


def _choice(spellings: Mapping[str, str], documented: str) -> Callable[[str, Any], str]:
    """A choice field spelt any documented way: any case, `-`, `_` or a space between words,
    and for the off value the YAML booleans `no`/`false`/`off` too."""

    def choice(where: str, value: Any) -> str:
        spelt = _string(where, value)
        found = spellings.get(re.sub(r"[-\s]", "_", spelt.strip().lower()))
        if found is None:
            raise InvalidInputError(where, f"must be one of {documented}, not {quote(spelt)}")
        return found

    return choice


_OFF = {"off": "OFF", "no": "OFF", "false": "OFF"}
_autorestart = _choice(
    {**_OFF, "on_failure": "ON_FAILURE", "always": "ALWAYS"}, "off, on-failure, always"
)
_autodestroy = _choice(
    {**_OFF, "on_success": "ON_SUCCESS", "always": "ALWAYS"}, "off, on-success, always"
)
# Docker Cloud's names and Tutum's (BALANCE, EVERY NODE).
_deployment_strategy = _choice(
    {
        "emptiest_node": EMPTIEST_NODE,
        "balance": EMPTIEST_NODE,
        "high_availability": HIGH_AVAILABILITY,
        "every_node": EVERY_NODE,
    },
    "emptiest_node, high_availability, every_node",
)


def _restart(where: str, value: Any) -> str:
    """Compose's restart policy, as autorestart. `unless-stopped` and a retry count have no
    autorestart value, and are refused rather than approximated."""
    spelt = re.sub(r"[-\s]", "_", _string(where, value).strip().lower())
    if spelt == "unless_stopped":
        raise InvalidInputError(
            where, "unless-stopped is not supported: the policies are no, on-failure and always"
        )
    if spelt.startswith("on_failure:"):
        raise InvalidInputError(where, "a retry count (on-failure:N) is not supported")
    return _autorestart(where, value)


_SIZE = re.compile(r"(?P<number>[0-9]{1,20}(?:\.[0-9]{1,20})?) ?(?P<unit>[kmgt]?)(?:i?b)?", re.I)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
MEGABYTE = 2**20


def _megabytes(where: str, value: Any) -> int:
    """Docker's sizes (`512m`, `1g`, `1.5gb`, `1073741824`; units of 1024) in whole megabytes,
    the unit of the memory fields. A size that is not a whole number of megabytes is refused,
    not rounded: either way would quietly set another limit than the one written."""
    spelt = _string(where, value).strip()
    match = _SIZE.fullmatch(spelt)
    if match is None:
        raise InvalidInputError(
            where, f"must be a size like 512m or 1g, or a number of bytes, not {quote(spelt)}"
        )
    size = Fraction(match["number"]) * _UNITS[match["unit"].lower()]
    if size < MEGABYTE:
        raise InvalidInputError(where, f"must be at least 1m (1 MB), not {spelt}")
    if size.denominator != 1 or size % MEGABYTE:
        low = size // MEGABYTE
        raise InvalidInputError(
            where,
            f"{spelt} is not a whole number of megabytes (1m is {MEGABYTE} bytes); "
            f"write {low}m or {low + 1}m",
        )
    return int(size // MEGABYTE)


def _swap_megabytes(where: str, value: Any) -> int:
    """As `_megabytes`, and -1 for no swap limit."""
    if isinstance(value, (str, Plain)) and _string(where, value).strip() == "-1":
        return -1
    return _megabytes(where, value)


# --- list and mapping values -------------------------------------------------------------------


def _list(where: str, value: Any, what: str) -> list[tuple[str, Any]]:
    if not isinstance(value, list):
        raise InvalidInputError(where, f"must be {what}, not {kind(value)}")
    return [(f"{where}[{index}]", item) for index, item in enumerate(value)]


def _strings(where: str, value: Any) -> list[str]:
    return [_string(at, item) for at, item in _list(where, value, "a list of strings")]


def _string_or_strings(where: str, value: Any) -> list[str]:
    return _strings(where, value) if isinstance(value, list) else [_string(where, value)]


def _command(where: str, value: Any) -> str:
    """A command line as written, or a list of arguments quoted into one the way a shell would
    split it back (`shlex.join`)."""
    if isinstance(value, list):
        return shlex.join(_strings(where, value))
    return _string(where, value)


def _pairs(where: str, value: Any, what: str) -> list[tuple[str, str, str | None]]:
    """`KEY=VALUE` list items or a mapping, as (item's field, key, value or None): None for a
    bare `KEY` item or a null mapping value. Mapping values keep the text they were written
    with, so `PORT: 8080` and `DEBUG: yes` are the strings `8080` and `yes`."""
    if isinstance(value, dict):
        return [
            (f"{where}.{key}", key, None if item is None else _string(f"{where}.{key}", item))
            for key, item in value.items()
        ]
    pairs: list[tuple[str, str, str | None]] = []
    for at, item in _list(where, value, f"a mapping or a list of {what} strings"):
        key, equals, text = _string(at, item).partition("=")
        pairs.append((at, key, text if equals else None))
    return pairs


def _environment(where: str, value: Any) -> list[dict[str, str]]:
    """Variables as a mapping or `KEY=VALUE` items. A variable without a value (`- PASSWORD`)
    is refused: the Docker Cloud CLI filled it in from the user's shell, which a stackfile sent
    to the server has not got, and an empty value would be a silent surprise."""
    variables = []
    for at, key, text in _pairs(where, value, "KEY=VALUE"):
        if text is None:
            raise InvalidInputError(
                at,
                f"{quote(key)} has no value: the server cannot take it from your shell as the "
                "Docker Cloud CLI did; give it one ('' for empty)",
            )
        variables.append({"key": key, "value": text})
    return variables


def _labels(where: str, value: Any) -> dict[str, str]:
    """Labels as a mapping or `key=value` items; a bare `key` (or a null) is an empty value,
    as Docker Cloud's reference shows."""
    labels: dict[str, str] = {}
    for at, key, text in _pairs(where, value, "key=value"):
        if key in labels:
            raise InvalidInputError(at, f"label {quote(key)} is given twice")
        labels[key] = text or ""
    return labels


def _extra_hosts(where: str, value: Any) -> list[str]:
    """`host:ip` items, or a mapping of host to address."""
    if isinstance(value, dict):
        return [f"{host}:{_string(f'{where}.{host}', ip)}" for host, ip in value.items()]
    return _strings(where, value)


# Both numbers at most five digits: what is longer is out of range anyway, and never converted.
_PORT = re.compile(r"(?:(?P<outer>[0-9]{1,5}):)?(?P<inner>[0-9]{1,5})(?:/(?P<protocol>tcp|udp))?")
_EXPOSED = re.compile(r"(?P<inner>[0-9]{1,5})(?:/(?P<protocol>tcp|udp))?")


def _ports(where: str, value: Any) -> list[dict[str, Any]]:
    """Published ports, `[HOST:]CONTAINER[/udp]`. An address to bind (`IP:HOST:CONTAINER`) is
    refused: the control plane publishes every port on its node's publish address."""
    ports = []
    for at, item in _list(where, value, "a list of ports like 8080:80"):
        spelt = _string(at, item)
        match = _PORT.fullmatch(spelt)
        if match is None:
            raise InvalidInputError(at, _port_problem(spelt, "[HOST:]CONTAINER[/udp]"))
        ports.append(_port(at, match, published=True))
    return ports


def _expose(where: str, value: Any) -> list[dict[str, Any]]:
    """Exposed, unpublished, ports: `CONTAINER[/udp]`."""
    ports = []
    for at, item in _list(where, value, "a list of ports like 80 or 53/udp"):
        spelt = _string(at, item)
        match = _EXPOSED.fullmatch(spelt)
        if match is None:
            raise InvalidInputError(
                at, _port_problem(spelt, "CONTAINER[/udp] (publish with ports)")
            )
        ports.append(_port(at, match, published=False))
    return ports


def _port_problem(spelt: str, form: str) -> str:
    if spelt.count(":") >= 2:
        return (
            f"{quote(spelt)}: binding an address is not supported; ports are published on the "
            "node's publish address (docs/api.md §3.8), so write HOST:CONTAINER"
        )
    if "-" in spelt:
        return f"{quote(spelt)}: port ranges are not supported; list each port"
    return f"{quote(spelt)} must be {form}"


def _port(where: str, match: re.Match[str], *, published: bool) -> dict[str, Any]:
    numbers = {name: int(match[name]) for name in ("inner", "outer") if match.groupdict().get(name)}
    for number in numbers.values():
        if not 1 <= number <= 65535:
            raise InvalidInputError(where, f"port {number} is out of range (1 to 65535)")
    return {
        "protocol": match["protocol"] or "tcp",
        "inner_port": numbers["inner"],
        "outer_port": numbers.get("outer"),
        "published": published,
    }


def container_ports(
    published: list[dict[str, Any]], exposed: list[dict[str, Any]]
) -> list[tuple[int, dict[str, Any]]]:
    """The ports of both keys, published first, as (index in `exposed` or -1, port). An exposed
    port that is also published is dropped: publishing exposes it already, and Compose files
    often list it under both keys."""
    seen = {(port["inner_port"], port["protocol"]) for port in published}
    return [(-1, port) for port in published] + [
        (index, port)
        for index, port in enumerate(exposed)
        if (port["inner_port"], port["protocol"]) not in seen
    ]


_MODES = {"rw": True, "ro": False}
_VOLUME_KEYS = frozenset({"type", "source", "target", "read_only"})


def _volumes(where: str, value: Any) -> list[dict[str, Any]]:
    """Bindings, in Compose's short syntax or, for a path holding a `:`, its long one."""
    return [
        _volume_long(at, item) if isinstance(item, dict) else _volume_short(at, _string(at, item))
        for at, item in _list(where, value, "a list of volumes like /host:/data:ro")
    ]


def _volume_short(where: str, spelt: str) -> dict[str, Any]:
    """`/data` (a new anonymous volume), `/host:/data` (a bind mount), `name:/data` (a named
    volume), each with `:ro` or `:rw` after it; `/data:ro` too, since the short syntax has no
    other way to say an anonymous volume is read-only."""
    parts = spelt.split(":")
    source: str | None
    if len(parts) == 2 and parts[1] in _MODES and parts[0].startswith("/"):
        source, target, mode = None, parts[0], parts[1]  # an anonymous volume with a mode
    elif len(parts) <= 3 and all(parts):
        source = parts[0] if len(parts) > 1 else None
        target = parts[1] if len(parts) > 1 else parts[0]
        mode = parts[2] if len(parts) == 3 else "rw"
    else:
        raise InvalidInputError(
            where, f"{quote(spelt)} must be [SOURCE:]CONTAINER_PATH[:ro], e.g. /host:/data:ro"
        )
    if mode not in _MODES:
        raise InvalidInputError(where, f"mode {quote(mode)} must be ro or rw")
    return _binding(where, source, target, rewritable=_MODES[mode])


def _volume_long(where: str, item: dict[str, Any]) -> dict[str, Any]:
    """`{type: bind|volume, source, target, read_only}`, Compose's long syntax."""
    unknown = sorted(set(item) - _VOLUME_KEYS)
    if unknown:
        raise InvalidInputError(f"{where}.{unknown[0]}", "unknown key")
    kind = _string(f"{where}.type", item.get("type"))
    if kind not in ("bind", "volume"):
        raise InvalidInputError(f"{where}.type", "must be bind or volume")
    source = item.get("source")
    if kind == "bind" and source is None:
        raise InvalidInputError(f"{where}.source", "is required for a bind mount")
    read_only = item.get("read_only")
    return _binding(
        where,
        None if source is None else _string(f"{where}.source", source),
        _string(f"{where}.target", item.get("target")),
        rewritable=read_only is None or not _flag(f"{where}.read_only", read_only),
        bind=kind == "bind",
    )


def _binding(
    where: str, source: str | None, target: str, *, rewritable: bool, bind: bool | None = None
) -> dict[str, Any]:
    """A binding from a volume's source: an absolute path is the host's (a bind mount), any
    other source a volume name. A relative host path is refused: the server has no directory
    to resolve it against."""
    if not target.startswith("/"):
        raise InvalidInputError(where, f"the container path {quote(target)} must be absolute")
    if bind is None and source is not None and source.startswith((".", "~")):
        raise InvalidInputError(
            where, f"the host path {quote(source)} must be absolute, or a volume name"
        )
    is_host = source is not None and (source.startswith("/") if bind is None else bind)
    return {
        "host_path": source if is_host else None,
        "container_path": target,
        "rewritable": rewritable,
        "volume": None if is_host else source,
    }


def _links(where: str, value: Any) -> list[dict[str, str]]:
    """`service` or `service:alias` items; the alias defaults to the service's name. Whether the
    service is one of this stackfile's is checked once every name is known."""
    links = []
    aliases: set[str] = set()
    for at, item in _list(where, value, "a list of service names, each with :ALIAS or not"):
        spelt = _string(at, item)
        parts = spelt.split(":")
        target, alias = parts[0], parts[-1]
        if len(parts) > 2 or not all(parts) or not NAME.fullmatch(alias):
            raise InvalidInputError(
                at, f"{quote(spelt)} must be SERVICE or SERVICE:ALIAS, the alias a valid name"
            )
        if alias in aliases:
            raise InvalidInputError(at, f"the alias {quote(alias)} is used twice")
        aliases.add(alias)
        links.append({"to_service": target, "name": alias})
    return links


# --- keys ----------------------------------------------------------------------------------------

Convert = Callable[[str, Any], Any]

# Stackfile key -> (body field, conversion). Two keys may fill one field: ports and expose are
# merged, restart and autorestart refused together.
READERS: dict[str, tuple[str, Convert]] = {
    "image": ("image", _string),
    "command": ("run_command", _command),
    "entrypoint": ("entrypoint", _command),
    "environment": ("container_envvars", _environment),
    "ports": ("container_ports", _ports),
    "expose": ("container_ports", _expose),
    "links": ("linked_to_service", _links),
    "volumes": ("bindings", _volumes),
    "target_num_containers": ("target_num_containers", _integer),
    "deployment_strategy": ("deployment_strategy", _deployment_strategy),
    "autorestart": ("autorestart", _autorestart),
    "restart": ("autorestart", _restart),
    "autodestroy": ("autodestroy", _autodestroy),
    "autoreplace": ("autoreplace", _autorestart),
    "sequential_deployment": ("sequential_deployment", _flag),
    "tags": ("tags", _strings),
    "net": ("net", _string),
    "pid": ("pid", _string),
    "privileged": ("privileged", _flag),
    "cpu_shares": ("cpu_shares", _integer),
    "cpuset": ("cpuset", _string),
    "mem_limit": ("memory", _megabytes),
    "memswap_limit": ("memory_swap", _swap_megabytes),
    "cap_add": ("cap_add", _strings),
    "cap_drop": ("cap_drop", _strings),
    "devices": ("devices", _strings),
    "dns": ("dns", _string_or_strings),
    "dns_search": ("dns_search", _string_or_strings),
    "domainname": ("domainname", _string),
    "hostname": ("hostname", _string),
    "extra_hosts": ("extra_hosts", _extra_hosts),
    "labels": ("labels", _labels),
    "security_opt": ("security_opt", _strings),
    "user": ("user", _string),
    "working_dir": ("working_dir", _string),
    "read_only": ("read_only", _flag),
    "tty": ("tty", _flag),
    "stdin_open": ("stdin_open", _flag),
    "mac_address": ("mac_address", _string),
}
KEYS = frozenset(READERS)

# Keys of Docker Cloud's stackfile, and of the Compose format it grew from, that this control
# plane does not support, with why: a user can tell a feature that is missing from a typo.
UNSUPPORTED_KEYS: dict[str, str] = {
    "autoredeploy": "no registry tells this control plane of new images",
    "roles": "services get no API credentials here",
    "volumes_from": "volumes are shared by naming them (name:/path) instead",
    "external_links": "links reach only the services of the same stackfile",
    "cgroup_parent": "containers take no cgroup parent here (docs/api.md §3.4)",
    "build": "the control plane builds no images",
    "env_file": "the server has no files beside the stackfile; use environment",
    "extends": "the server has no other files to extend",
    "container_name": "container names are derived from the service name",
    "log_driver": "containers use their node's logging driver",
    "log_opt": "containers use their node's logging driver",
    "logging": "containers use their node's logging driver",
    "network_mode": "use net",
    "networks": "containers are on their node's bridge network, or net: host or none",
    "depends_on": "links order the services",
    "healthcheck": "health checks are not supported",
    "deploy": "use target_num_containers, deployment_strategy and tags",
    "ulimits": "ulimits are not supported",
    "ipc": "IPC modes are not supported",
    "stop_signal": "containers are stopped with SIGTERM",
    "stop_grace_period": "the stop timeout is the control plane's",
    "tmpfs": "tmpfs mounts are not supported",
    "shm_size": "the shared memory size is Docker's default",
    "sysctls": "sysctls are not supported",
    "volume_driver": "volumes use their node's local driver",
    "cpu_quota": "use cpu_shares",
    "cpus": "use cpu_shares",
    "mem_reservation": "use mem_limit",
    "oom_kill_disable": "the OOM killer cannot be disabled here",
    "init": "containers are not given an init process",
}
