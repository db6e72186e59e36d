"""Which container options are dangerous, and whether the operator allows them.

Pure and stdlib-only. An option is dangerous when it gives a container power over the node that
hosts it: full device and kernel access (`privileged`, `devices`, `cap_add`), the host's network
or process namespace (`net: host`, `pid: host`), the host's files (a binding with a `host_path`)
or a weakened confinement profile (any `security_opt` but `no-new-privileges` switched on). They
are refused unless the operator names them in CONTROLPLANE_ALLOW_DANGEROUS, because on a shared
control plane one tenant with any of them owns every other tenant's containers on that node.

The check runs on the container definition (the create body's validated values, or a stored
container's `ContainerSpec`), which uses the same field names either way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from controlplane.core.errors import DangerousOptionForbiddenError

ALLOW_ALL = "all"


def _uses_host_path(definition: Mapping[str, Any]) -> bool:
    return any(binding.get("host_path") for binding in definition.get("bindings") or ())


# Go's strconv.ParseBool, which Docker reads `no-new-privileges=<value>` with.
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
NO_NEW_PRIVILEGES = "no-new-privileges"


def split_security_opt(option: str) -> tuple[str, str | None]:
    """(key, value) of a security option as Docker splits it: at the first `=`, else at the
    first `:` (Docker's deprecated separator); a bare option has no value."""
    separator = "=" if "=" in option else ":"
    key, found, value = option.partition(separator)
    return (key, value) if found else (option, None)


def _confines(option: str) -> bool:
    """Only `no-new-privileges` that switches the flag on is harmless; `=false` switches off a
    daemon-wide no-new-privileges, so it weakens confinement like the other keys."""
    key, value = split_security_opt(option)
    return key == NO_NEW_PRIVILEGES and (value is None or value in GO_TRUE)


def _weakens_confinement(definition: Mapping[str, Any]) -> bool:
    return any(not _confines(option) for option in definition.get("security_opt") or ())


# option name (as the operator writes it) -> (field it lives in, whether a definition uses it)
DANGEROUS_OPTIONS: dict[str, tuple[str, Callable[[Mapping[str, Any]], bool]]] = {
    "privileged": ("privileged", lambda d: bool(d.get("privileged"))),
    "net_host": ("net", lambda d: d.get("net") == "host"),
    "pid_host": ("pid", lambda d: d.get("pid") == "host"),
    "devices": ("devices", lambda d: bool(d.get("devices"))),
    "cap_add": ("cap_add", lambda d: bool(d.get("cap_add"))),
    "host_bindings": ("bindings", _uses_host_path),
    "security_opt": ("security_opt", _weakens_confinement),
}


def dangerous_options(definition: Mapping[str, Any]) -> list[str]:
    """The dangerous options a container definition uses, in the table's order."""
    return [name for name, (_, used) in DANGEROUS_OPTIONS.items() if used(definition)]


def check_allowed(definition: Mapping[str, Any], allowed: Collection[str]) -> None:
    """Refuse a definition that uses a dangerous option the operator has not allowed.

    Raises:
        DangerousOptionForbiddenError: naming the first such option and its field.
    """
    for name in dangerous_options(definition):
        if name not in allowed:
            raise DangerousOptionForbiddenError(field=DANGEROUS_OPTIONS[name][0], option=name)


def parse_allowed(text: str) -> frozenset[str]:
    """The option names of a CONTROLPLANE_ALLOW_DANGEROUS value: comma-separated names, or
    `all`; case and blanks do not matter. Raises ValueError naming an unknown option."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if ALLOW_ALL in names:
        return frozenset(DANGEROUS_OPTIONS)
    unknown = sorted(names - set(DANGEROUS_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown option {unknown[0]!r}; use {', '.join(DANGEROUS_OPTIONS)} or {ALLOW_ALL}"
        )
    return frozenset(names)
