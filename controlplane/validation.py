"""Validation of the container create body (tutum-api.md §3.4 field names).

Pure: takes the decoded JSON object and returns the column values, or raises
`InvalidInputError` naming the first bad field. Everything is checked before anything is
written, so a refused create leaves the database and Docker untouched. The rules follow what
Docker itself would refuse later (names, memory floor, CPU share range), so bad input fails
here with a clear sentence instead of as a failed Action minutes later.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from controlplane.errors import InvalidInputError
from controlplane.messages import LABEL_PREFIX

AUTORESTART_VALUES = ("OFF", "ON_FAILURE", "ALWAYS")
MAX_NAME_LENGTH = 255
MEMORY_RANGE_MB = (6, 2**31 - 1)  # Docker refuses a limit below 6 MB; the top keeps bytes in int64.
CPU_SHARES_RANGE = (2, 262144)  # The kernel's cpu.shares bounds, which Docker enforces.

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Docker's reference grammar (distribution/reference): [domain/]path[:tag][@digest].
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)


def validate_create(body: dict[str, Any]) -> dict[str, Any]:
    """Column values for a new container from a create request body.

    Unknown fields are refused rather than ignored: a misspelt option that silently does nothing
    is worse than a 400 that names it.

    Raises:
        InvalidInputError: a field is missing, of the wrong type, or out of range.
    """
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise InvalidInputError(unknown[0], "unknown field; see the container fields in the README")
    if "image_name" not in body:
        raise InvalidInputError("image_name", "is required")
    values = {field: check(field, body[field]) for field, check in _FIELDS.items() if field in body}
    if values.get("name") is None:
        values["name"] = default_name(values["image_name"])
    return values


def default_name(image_name: str) -> str:
    """A container name derived from the image, as Tutum did: the last path part of the repo."""
    match = _IMAGE.match(image_name)
    repo = match.group("name") if match else image_name
    candidate = re.sub(r"[^a-zA-Z0-9_.-]", "-", repo.rsplit("/", 1)[-1]).lstrip("_.-")
    return candidate or "container"


def _image_name(field: str, value: Any) -> str:
    text = _string(field, value)
    match = _IMAGE.match(text)
    if not text or match is None or len(match.group("name")) > 255:
        raise InvalidInputError(field, f"{text!r} is not a valid image reference (repo[:tag])")
    if match.group("tag") is None and match.group("digest") is None:
        text += ":latest"
    return text


def _name(field: str, value: Any) -> str | None:
    if value is None:
        return None
    text = _string(field, value)
    if not 1 <= len(text) <= MAX_NAME_LENGTH:
        raise InvalidInputError(field, f"must be 1 to {MAX_NAME_LENGTH} characters long")
    if not _NAME.match(text):
        raise InvalidInputError(
            field,
            "may contain only letters, digits and _ . - and must start with a letter or digit",
        )
    return text


def _command(field: str, value: Any) -> str | None:
    if value is None:
        return None
    text = _string(field, value)
    try:
        shlex.split(text)
    except ValueError as exc:
        raise InvalidInputError(field, f"cannot be split into arguments ({exc})") from None
    return text


def _entrypoint(field: str, value: Any) -> str:
    return _command(field, "" if value is None else value) or ""


def _working_dir(field: str, value: Any) -> str:
    text = "" if value is None else _string(field, value)
    if text and not text.startswith("/"):
        raise InvalidInputError(field, "must be an absolute path")
    return text


def _envvars(field: str, value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise InvalidInputError(field, 'must be a list of {"key": ..., "value": ...} objects')
    seen: set[str] = set()
    result = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, dict) or set(item) != {"key", "value"}:
            raise InvalidInputError(where, 'must be an object with exactly "key" and "value"')
        key, val = item["key"], item["value"]
        if not isinstance(key, str) or not _ENV_KEY.match(key):
            raise InvalidInputError(where, f"key {key!r} is not a valid variable name")
        if not isinstance(val, str):
            raise InvalidInputError(where, "value must be a string")
        if key in seen:
            raise InvalidInputError(where, f"key {key!r} is repeated")
        seen.add(key)
        result.append({"key": key, "value": val})
    return result


def _labels(field: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidInputError(field, "must be an object of string keys to string values")
    for key, val in value.items():
        if not key or not isinstance(val, str):
            raise InvalidInputError(
                field, f"label {key!r} must have a non-empty key and a string value"
            )
        if key.startswith(LABEL_PREFIX):
            raise InvalidInputError(field, f"label {key!r} uses the reserved prefix {LABEL_PREFIX}")
    return dict(value)


def _int_range(low: int, high: int, unit: str = "") -> Callable[[str, Any], int | None]:
    def check(field: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(field, "must be an integer")
        if not low <= value <= high:
            raise InvalidInputError(field, f"must be between {low} and {high}{unit}")
        return value

    return check


def _autorestart(field: str, value: Any) -> str:
    if value not in AUTORESTART_VALUES:
        raise InvalidInputError(field, f"must be one of {', '.join(AUTORESTART_VALUES)}")
    return str(value)


def _string(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(field, "must be a string")
    if "\x00" in value:
        raise InvalidInputError(field, "must not contain NUL characters")
    return value


_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "image_name": _image_name,
    "name": _name,
    "run_command": _command,
    "entrypoint": _entrypoint,
    "working_dir": _working_dir,
    "container_envvars": _envvars,
    "labels": _labels,
    "memory": _int_range(*MEMORY_RANGE_MB, unit=" MB"),
    "cpu_shares": _int_range(*CPU_SHARES_RANGE),
    "autorestart": _autorestart,
}


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def parse_bool(field: str, raw: str) -> bool:
    """A query boolean as the SDKs send it: `true`/`false` (docs, GO) or `True`/`False` (Python),
    any case (tutum-api.md §9 item 18)."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInputError(field, f"must be true or false, got {raw!r}")
