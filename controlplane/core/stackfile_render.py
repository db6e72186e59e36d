"""Stackfiles written back, for a stack's export.

`render_stackfile` turns `(name, body)` pairs, each body a service's create body as stored
(`service_validation.service_body` of its values), into a stackfile that
`controlplane.core.stackfile.parse_stackfile` reads back to the same bodies, fields at their
defaults left out.

Pure: the standard library, PyYAML and `controlplane.core` only; no Flask, database or broker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml
from yaml.resolver import BaseResolver

from controlplane.core.scheduler import EMPTIEST_NODE
from controlplane.core.validation import (
    AUTODESTROY_VALUES,
    AUTORESTART_VALUES,
    NET_MODES,
    PID_MODES,
)

DEFAULT_TARGET_NUM_CONTAINERS = 1


def render_stackfile(services: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """A stackfile of the services, in the order given, that `parse_stackfile` reads back to
    the same bodies: fields at their defaults (null, empty, false, OFF, EMPTIEST_NODE, one
    container, net bridge, pid none) are left out, and ports come back published first. Each
    body holds the service create fields as stored; `name` is the pair's name, and a link's
    `to_service` the name of one of the services given.

    Raises:
        ValueError: a name given twice, or a body field no stackfile key can say.
    """
    document: dict[str, dict[str, Any]] = {}
    for name, body in services:
        if name in document:
            raise ValueError(f"service {name!r} is given twice")
        document[name] = _options(body)
    # No line is folded: a long command stays one line, and folding is where emitters err.
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=float("inf"),
    )


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, but a string holding a Unicode line break (NEL, U+2028, U+2029)
    is written double-quoted, where it is escaped: PyYAML would write it raw in single quotes,
    where a reader folds NEL into a space (`allow_unicode`), so the text would not read back."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if _UNICODE_BREAKS.search(text) else None
    return dumper.represent_scalar(BaseResolver.DEFAULT_SCALAR_TAG, text, style=style)


_UNICODE_BREAKS = re.compile("[\x85\u2028\u2029]")
_Dumper.add_representer(str, _represent_str)


def _options(body: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - BODY_FIELDS)
    if unknown:
        raise ValueError(f"no stackfile key says the service field {unknown[0]!r}")
    if not isinstance(body.get("image"), str):
        raise ValueError("a service without an image cannot be written")
    options: dict[str, Any] = {}
    for field, (default, render) in _RENDER.items():
        value = body.get(field)
        if value is not None and value != default:
            options.update(render(value))
    return options


def _as(key: str, convert: Callable[[Any], Any] = lambda value: value) -> Callable[[Any], Any]:
    return lambda value: {key: convert(value)}


def _render_ports(ports: list[dict[str, Any]]) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for port in ports:
        protocol = "" if port.get("protocol", "tcp") == "tcp" else f"/{port['protocol']}"
        if port.get("published", True):
            outer = "" if port.get("outer_port") is None else f"{port['outer_port']}:"
            options.setdefault("ports", []).append(f"{outer}{port['inner_port']}{protocol}")
        else:
            options.setdefault("expose", []).append(f"{port['inner_port']}{protocol}")
    return options


def _render_volume(binding: dict[str, Any]) -> str | dict[str, Any]:
    source = binding.get("host_path") or binding.get("volume")
    target, rewritable = binding["container_path"], binding.get("rewritable", True)
    if ":" in target or ":" in (source or ""):  # only the long syntax can say these
        long: dict[str, Any] = {"type": "bind" if binding.get("host_path") else "volume"}
        long.update({"source": source} if source else {})
        long["target"] = target
        long.update({} if rewritable else {"read_only": True})
        return long
    return f"{source + ':' if source else ''}{target}{'' if rewritable else ':ro'}"


def _render_link(link: dict[str, Any]) -> str:
    """`SERVICE[:ALIAS]`; a link stored without an alias is reached by the service's name."""
    target, alias = link["to_service"], link.get("name")
    return target if alias in (None, target) else f"{target}:{alias}"


def _lower(value: str) -> str:
    return value.lower().replace("_", "-")


# Body field -> (its default, left out; the stackfile keys it becomes), in the order written:
# that of the key table of docs/api.md §12.2.
_RENDER: dict[str, tuple[Any, Callable[[Any], dict[str, Any]]]] = {
    "image": (None, _as("image")),
    "run_command": ("", _as("command")),
    "entrypoint": ("", _as("entrypoint")),
    "container_envvars": (
        [],
        _as("environment", lambda items: {item["key"]: item["value"] for item in items}),
    ),
    "container_ports": ([], _render_ports),
    "linked_to_service": ([], _as("links", lambda links: [_render_link(x) for x in links])),
    "bindings": ([], _as("volumes", lambda items: [_render_volume(x) for x in items])),
    "target_num_containers": (DEFAULT_TARGET_NUM_CONTAINERS, _as("target_num_containers")),
    "deployment_strategy": (
        EMPTIEST_NODE,
        _as("deployment_strategy", lambda value: value.lower()),
    ),
    "autorestart": (AUTORESTART_VALUES[0], _as("autorestart", _lower)),
    "autoreplace": (AUTORESTART_VALUES[0], _as("autoreplace", _lower)),
    "autodestroy": (AUTODESTROY_VALUES[0], _as("autodestroy", _lower)),
    "sequential_deployment": (False, _as("sequential_deployment")),
    "privileged": (False, _as("privileged")),
    "read_only": (False, _as("read_only")),
    "tty": (False, _as("tty")),
    "stdin_open": (False, _as("stdin_open")),
    "tags": ([], _as("tags", list)),
    "cpu_shares": (None, _as("cpu_shares")),
    "memory": (None, _as("mem_limit", lambda megabytes: f"{megabytes}m")),
    "memory_swap": (
        None,
        _as("memswap_limit", lambda megabytes: -1 if megabytes == -1 else f"{megabytes}m"),
    ),
    "dns": ([], _as("dns", list)),
    "dns_search": ([], _as("dns_search", list)),
    "extra_hosts": ([], _as("extra_hosts", list)),
    "labels": ({}, _as("labels", dict)),
    "cap_add": ([], _as("cap_add", list)),
    "cap_drop": ([], _as("cap_drop", list)),
    "devices": ([], _as("devices", list)),
    "security_opt": ([], _as("security_opt", list)),
    "cpuset": ("", _as("cpuset")),
    "net": (NET_MODES[0], _as("net")),
    "pid": (PID_MODES[0], _as("pid")),
    "user": ("", _as("user")),
    "working_dir": ("", _as("working_dir")),
    "hostname": ("", _as("hostname")),
    "domainname": ("", _as("domainname")),
    "mac_address": ("", _as("mac_address")),
}
BODY_FIELDS = frozenset({"name", *_RENDER})
