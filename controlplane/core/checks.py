"""The building blocks of input validation: type checks and combinators for JSON fields.

Pure and stdlib-only. Every check takes the field's name (as errors show it: `bindings[2]`) and
the decoded value, and returns the value to store or raises `InvalidInputError` naming the field,
so a refusal always says which field and why. `controlplane.core.validation` builds the container
create schema from them; the API uses `parse_bool` for query strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from controlplane.core.errors import InvalidInputError

# A check: (field name, decoded value) -> the value to store; raises InvalidInputError.
Check = Callable[[str, Any], Any]

DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# How deep a request body may nest. No create field nests deeper than 3 (a list of objects of
# strings); the cap keeps every walk over a body (decoding, checking, storing) far from Python's
# recursion limit, whatever the stack depth it starts at.
MAX_DEPTH = 32
# Linux's PATH_MAX, the longest path a system call takes.
MAX_PATH_BYTES = 4096
# Code points no text column can store: NUL (PostgreSQL refuses it in text) and the UTF-16
# surrogates, which are not Unicode scalar values and cannot be encoded as UTF-8 (SQLite, the
# JSON columns and every later reader need UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def int_range(low: int, high: int, unit: str = "") -> Check:
    def check(field: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(field, "must be an integer")
        if not low <= value <= high:
            raise InvalidInputError(field, f"must be between {low} and {high}{unit}")
        return value

    return check


def choice(choices: tuple[str, ...]) -> Check:
    def check(field: str, value: Any) -> str:
        if value is None:
            return choices[0]
        if value not in choices:
            raise InvalidInputError(field, f"must be one of {', '.join(choices)}")
        return str(value)

    return check


def flag(field: str, value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidInputError(field, "must be true or false")
    return value


def flag_default_true(field: str, value: Any) -> bool:
    return True if value is None else flag(field, value)


def text(check: Callable[[str, str], str]) -> Check:
    """A string field whose null or empty value is "" (Docker's default, left alone) and whose
    other values must pass `check`."""

    def text_field(field: str, value: Any) -> str:
        text = "" if value is None else string(field, value)
        return check(field, text) if text else text

    return text_field


def string_list(check: Callable[[str, str], str]) -> Check:
    """A list of strings, each checked (and possibly normalised) by `check`."""

    def check_list(field: str, value: Any) -> list[str]:
        if value is None:
            return []
        return [check(where, string(where, item)) for where, item in items(field, value)]

    return check_list


def string(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(field, "must be a string")
    return storable(field, value)


def storable(field: str, text: str) -> str:
    """Text every backend can store: valid Unicode scalar values (no surrogates) without NUL.
    JSON decoding lets both through (`"\\ud800"`, `"\\u0000"`), and a database would refuse them
    only when writing, as a 500."""
    bad = _UNSTORABLE.search(text)
    if bad is not None:
        what = "NUL characters" if bad.group() == "\x00" else "surrogate code points"
        raise InvalidInputError(
            field, f"must not contain {what} (strings must be valid Unicode scalar values)"
        )
    return text


def storable_copy(text: str, limit: int) -> str:
    """The first `limit` characters of `text` with what no backend stores replaced by U+FFFD:
    for text that is recorded as the client sent it rather than refused."""
    return _UNSTORABLE.sub("\ufffd", text[:limit])


def document(value: Any, field: str = "body") -> None:
    """Refuse a decoded JSON document nested deeper than MAX_DEPTH or holding a string (object
    keys included) that `storable` refuses, naming the top-level field it is in (`labels`,
    `container_envvars[0]`). Iterative, so the walk cannot overflow the stack itself; it runs
    before any field check, so no error message ever quotes such a string."""
    pending: list[tuple[str, Any, int]] = [(field, value, 0)]
    while pending:
        where, item, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise InvalidInputError(field, f"nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            storable(where, item)
        elif isinstance(item, list):
            pending.extend((f"{where}[{i}]", v, depth + 1) for i, v in enumerate(item))
        elif isinstance(item, dict):
            for key, member_value in item.items():
                storable(where, key)
                inner = key if depth == 0 and where == field else where
                pending.append((inner, member_value, depth + 1))


def at_most(field: str, text: str, limit: int) -> str:
    """Text of at most `limit` characters: the length of the varchar column (PostgreSQL counts
    characters) or Docker's own limit it is stored in."""
    if len(text) > limit:
        raise InvalidInputError(field, f"must be at most {limit} characters long")
    return text


def utf8_bytes(field: str, text: str, limit: int) -> str:
    """Text of at most `limit` bytes in UTF-8, the form it is stored and sent to Docker in."""
    if len(text.encode()) > limit:
        raise InvalidInputError(field, f"must be at most {limit} bytes long (in UTF-8)")
    return text


def absolute_path(field: str, text: str) -> str:
    if not text.startswith("/"):
        raise InvalidInputError(field, f"{text!r} must be an absolute path")
    return utf8_bytes(field, text, MAX_PATH_BYTES)


def path(field: str, value: Any) -> str:
    return absolute_path(field, string(field, value))


def domain(field: str, text: str, max_length: int = 253) -> str:
    """A DNS name (RFC 1123 labels separated by dots)."""
    if len(text) > max_length or not all(DNS_LABEL.fullmatch(p) for p in text.split(".")):
        raise InvalidInputError(field, f"{text!r} is not a valid host or domain name")
    return text


def items(field: str, value: Any, shape: str = "a list") -> list[tuple[str, Any]]:
    """The items of a list field (none for null), each with the name errors use (`field[i]`)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInputError(field, f"must be {shape}")
    return [(f"{field}[{index}]", item) for index, item in enumerate(value)]


def refuse_repeats(field: str, keys: list[Any], problem: str) -> None:
    """Refuse the first item whose key (None: no key) an earlier item already has."""
    seen: set[Any] = set()
    for index, key in enumerate(keys):
        if key is not None and key in seen:
            raise InvalidInputError(f"{field}[{index}]", problem.format(key))
        seen.add(key)


def keys(
    where: str, item: Any, *, required: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> None:
    """An object item has every required key and nothing but the known ones."""
    if not isinstance(item, dict) or not required <= set(item) <= required | set(optional):
        known = ", ".join(sorted(required | set(optional)))
        raise InvalidInputError(
            where,
            f"must be an object with the keys {known} ({', '.join(sorted(required))} required)",
        )


def member(where: str, item: dict[str, Any], key: str, check: Check) -> Any:
    """Check one key of an object item; a refusal names the item and says which key."""
    try:
        return check(where, item.get(key))
    except InvalidInputError as exc:
        raise InvalidInputError(where, f"{key} {exc.kwargs['problem']}") from None


def required(check: Check) -> Check:
    def required(field: str, value: Any) -> Any:
        if value is None:
            raise InvalidInputError(field, "is required")
        return check(field, value)

    return required


def optional(check: Check) -> Check:
    def optional(field: str, value: Any) -> Any:
        return None if value is None else check(field, value)

    return optional


# The spellings of a query boolean, in lower case (the OpenAPI document lists them too).
TRUE_WORDS = frozenset({"true", "1"})
FALSE_WORDS = frozenset({"false", "0"})


def parse_bool(field: str, raw: str) -> bool:
    """A query boolean as the SDKs send it: `true`/`false` (docs, GO) or `True`/`False` (Python),
    any case (docs/api.md §9.1 item 18)."""
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise InvalidInputError(field, f"must be true or false, got {raw!r}")
