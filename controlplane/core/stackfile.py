"""Stackfiles: the Docker Cloud stack YAML, read into service create bodies.

A stackfile (Docker Cloud's `docker-cloud.yml`, Tutum's `tutum.yml`) is a YAML mapping of service
names to their options, the Compose version 1 format with Docker Cloud's own keys added.
docs/api.md §12 lists the keys this control plane reads, what each becomes and what is refused.

    parse_stackfile(text, validate) -> list[StackService]
        One `StackService(name, body, values, links)` per service, in file order: `body` is the
        service create body the stackfile says (Tutum's field names: `image`, `run_command`,
        `container_envvars`, `linked_to_service` with `to_service` a service name of the same
        stackfile ...), `values` what `validate(body)` returned for it, and `links` its
        `(target service, alias)` pairs. The whole file is accepted or one `InvalidInputError`
        is raised, naming the service and the stackfile key (`web.ports[1]`), or `stackfile`
        for the file itself (bad YAML, with its line and column).
    parse_services(document, validate) -> list[StackService]
        The same, of a stackfile already decoded (what the CLIs send: the YAML loaded on the
        client, as JSON), read by the same rules without YAML in between.

The document itself is read, and hostile input refused, by `controlplane.core.stackfile_yaml`;
this module maps it to service bodies, key by key. The way back, for a stack's export, is
`controlplane.core.stackfile_render`.

`validate` is the field-level check of a service create body
(`controlplane.core.service_validation.validate_service`), passed in so that this module knows
nothing of services beyond their field names. Its `InvalidInputError` about a body field
(`container_envvars[2]`) is raised again about the stackfile key and item that gave that field
(`web.environment.PASSWORD`), so an error always points at a line the user wrote.

How values are read, because YAML 1.1 guesses types from unquoted text and the guesses bite:
`restart: no` is the boolean false, `2222:22` is the base-60 integer 133342 and `user: 1000:50`
is 60050. So every unquoted scalar keeps the text it was written with (a `Plain`), and a key that
takes a string takes that text: `ports: [2222:22]`, `restart: no` and `cpuset: 0` mean what they
say. A key that takes a boolean or an integer takes what YAML makes of it. A null (`key:` with
nothing, `~`) is the key left out, as a null is the default everywhere in the API.

Pure: the standard library, PyYAML and `controlplane.core` only; no Flask, database or broker.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    read_decoded,
    read_yaml,
)
from controlplane.core.validation import NAME


@dataclass(frozen=True)
class StackService:
    """One service of a stackfile: its create body, that body validated, and its links."""

    name: str
    body: dict[str, Any]
    values: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (target service name, alias), in the order given


Validate = Callable[[dict[str, Any]], dict[str, Any]]


def parse_stackfile(text: str, validate: Validate) -> list[StackService]:
    """The services a stackfile describes, in file order, each with its body validated.

    Everything about the file is checked before `validate` sees any body (YAML, names, keys,
    types, link targets and cycles), then each body in turn, so the first error raised is the
    one a reader going down the file would meet first among the stackfile's own rules.

    Raises:
        InvalidInputError: the first problem, naming `stackfile`, a service, or a service's key
            (`web.environment[1]`); nothing is returned for a file with any problem.
    """
    return _read(read_yaml(text), validate)


def parse_services(document: Mapping[str, Any], validate: Validate) -> list[StackService]:
    """`parse_stackfile` of a stackfile already decoded: what the Tutum and Docker Cloud CLIs
    send (the YAML loaded on the client), or any JSON object of service names to options.

    Read by the same rules, so the errors are the same, about the same fields. Where a string
    goes, a number or a boolean is its JSON text (`"user": 1000` is `"1000"`, `"restart": false`
    is `false`); what the client's YAML loader made of unquoted text is past recovering here.

    Raises:
        InvalidInputError: as `parse_stackfile`; a value JSON cannot hold is refused too.
    """
    return _read(read_decoded(document), validate)


def _read(services: dict[str, dict[str, Any]], validate: Validate) -> list[StackService]:
    names = set(services)
    drafts = [_draft(name, options, names) for name, options in services.items()]
    _refuse_cycles({draft.name: [target for target, _ in draft.links] for draft in drafts})
    return [
        StackService(
            name=draft.name,
            body=draft.body,
            values=_validated(draft, validate),
            links=draft.links,
        )
        for draft in drafts
    ]


# --- scalar values -----------------------------------------------------------------------------


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


def _container_ports(
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
_KEYS: dict[str, tuple[str, Convert]] = {
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
KEYS = frozenset(_KEYS)

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


@dataclass(frozen=True)
class _Origin:
    """Where a body field came from: the stackfile key's field, and each list item's."""

    key: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class _Draft:
    """A service read, before its body is validated."""

    name: str
    body: dict[str, Any]
    links: tuple[tuple[str, str], ...]
    origins: dict[str, _Origin]


def _draft(name: str, options: dict[str, Any], names: set[str]) -> _Draft:
    """A service's body from its options: every key known and supported, every value of the
    right shape, image given, links to services of this stackfile."""
    for key in options:
        _check_key(f"{name}.{key}", key)
    given = {key: value for key, value in options.items() if value is not None}
    if "image" not in given:
        raise InvalidInputError(f"{name}.image", "is required")
    body: dict[str, Any] = {"name": name}
    origins = {"name": _Origin(name, ())}
    by_field: dict[str, str] = {}
    converted: dict[str, Any] = {}
    for key, value in given.items():
        field, convert = _KEYS[key]
        where = f"{name}.{key}"
        converted[key] = convert(where, value)
        if field == "container_ports":
            continue  # merged below
        if field in by_field:
            raise InvalidInputError(where, f"cannot be given with {by_field[field]}: give one")
        by_field[field] = key
        body[field] = converted[key]
        origins[field] = _Origin(where, _item_fields(where, value))
    if "ports" in given or "expose" in given:
        _merge_ports(name, converted, body, origins)
    links = tuple((link["to_service"], link["name"]) for link in body.get("linked_to_service", ()))
    for index, (target, _) in enumerate(links):
        if target not in names:
            raise InvalidInputError(
                f"{name}.links[{index}]",
                f"{quote(target)} is not a service of this stackfile "
                "(links to other stacks' services are not supported)",
            )
    return _Draft(name=name, body=body, links=links, origins=origins)


def _check_key(where: str, key: str) -> None:
    if key in _KEYS:
        return
    reason = UNSUPPORTED_KEYS.get(key)
    if reason is not None:
        raise InvalidInputError(where, f"is not supported by this control plane: {reason}")
    raise InvalidInputError(where, "unknown key")


def _item_fields(where: str, value: Any) -> tuple[str, ...]:
    """The field of each item a list-valued body field gets from `value`, in order: every
    conversion keeps its items in the order given, one body item per item."""
    if isinstance(value, list):
        return tuple(f"{where}[{index}]" for index in range(len(value)))
    if isinstance(value, dict):
        return tuple(f"{where}.{key}" for key in value)
    return (where,)


def _merge_ports(
    name: str, converted: dict[str, Any], body: dict[str, Any], origins: dict[str, _Origin]
) -> None:
    merged = _container_ports(converted.get("ports", []), converted.get("expose", []))
    body["container_ports"] = [port for _, port in merged]
    origins["container_ports"] = _Origin(
        f"{name}.ports" if "ports" in converted else f"{name}.expose",
        tuple(
            f"{name}.ports[{position}]" if index < 0 else f"{name}.expose[{index}]"
            for position, (index, _) in enumerate(merged)
        ),
    )


def _refuse_cycles(graph: dict[str, list[str]]) -> None:
    """Links must not form a cycle, a service's link to itself included: a service is created
    after the services it links to, and a cycle has no first. Depth-first in file order, with
    an explicit stack; the error names the first service of the first cycle met."""
    done: set[str] = set()
    for start in graph:
        if start in done:
            continue
        path: list[str] = [start]
        pending = [iter(graph[start])]
        while pending:
            target = next(pending[-1], None)
            if target is None:
                done.add(path.pop())
                pending.pop()
            elif target in path:
                cycle = [*path[path.index(target) :], target]
                raise InvalidInputError(
                    f"{cycle[0]}.links",
                    f"{' -> '.join(cycle)} is a cycle: links must not form one",
                )
            elif target not in done:
                path.append(target)
                pending.append(iter(graph[target]))


# --- validation ----------------------------------------------------------------------------------

# A service validator may report a field under the container API's name for it.
_BODY_ALIASES = {"image_name": "image"}
_BODY_FIELD = re.compile(r"(?P<head>[A-Za-z_]+)(?:\[(?P<index>[0-9]{1,9})\])?(?P<rest>.*)", re.S)


def _validated(draft: _Draft, validate: Validate) -> dict[str, Any]:
    """`validate(body)`, its refusal restated about the stackfile key that gave the field."""
    try:
        return validate(copy.deepcopy(draft.body))
    except InvalidInputError as exc:
        raise _restated(exc, draft) from None


def _restated(exc: InvalidInputError, draft: _Draft) -> InvalidInputError:
    problem = str(exc.kwargs.get("problem", exc.message))
    field = exc.field or ""
    match = _BODY_FIELD.fullmatch(field)
    origin = draft.origins.get(_BODY_ALIASES.get(match["head"], match["head"])) if match else None
    if match is None or origin is None:  # a field no key gave: say which, about the service
        return InvalidInputError(draft.name, f"{field}: {problem}")
    index = match["index"]
    if index is not None and int(index) < len(origin.items):
        return InvalidInputError(origin.items[int(index)] + match["rest"], problem)
    return InvalidInputError(origin.key + field[len(match["head"]) :], problem)
