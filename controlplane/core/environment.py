"""Typed reads of environment variables, shared by both sides' settings.

Stdlib-only so the node agent can use it without pulling in anything of the control plane's.
"""

from __future__ import annotations

from collections.abc import Mapping


class SettingsError(ValueError):
    """A configuration value is missing or malformed; raised at start-up, never per request."""


def env_int(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    """Read an integer variable, failing fast with the variable's name when it is malformed."""
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    """Read a yes/no variable (1/0, true/false, yes/no, on/off), failing fast on anything else."""
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw not in _TRUE | _FALSE:
        raise SettingsError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")
    return raw in _TRUE


def env_bind(environ: Mapping[str, str], name: str) -> tuple[str, int] | None:
    """Read a `HOST:PORT` to listen on (`[::1]:9101` for IPv6), or None when unset."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    host, colon, port = raw.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"{name} must be HOST:PORT (127.0.0.1:9101), got {raw!r}")
    return host, int(port)
