"""A stackfile's document as plain data, with hostile input refused before it costs anything.

`read_yaml` reads a stackfile's text, `read_decoded` a stackfile the client decoded already (as
JSON); both give its top-level mapping of valid service names to their options, as dicts (in
file order), lists, strings, `Plain` and None, and `controlplane.core.stackfile` maps that to
service bodies key by key.

An unquoted scalar YAML would guess a type of (a boolean, a number, a date) is a `Plain`: the
text it was written with, and what YAML makes of it, so the key it is given to decides which it
means (`restart: no` is the text `no`). A decoded boolean or number is a `Plain` of its JSON
text, so the keys read both alike. A null (`key:` with nothing, `~`) is None.

The text is capped (MAX_STACKFILE_BYTES), as are services (MAX_SERVICES), nesting (MAX_NESTING,
checked while the document is composed, so neither the composer nor anything after it can
recurse deeply) and the digits of an integer (MAX_INTEGER_CHARS, for the keys that convert one).
Anchors and aliases are refused outright (no billion laughs), and so are explicit tags (no
`!!python/object`, nothing but plain mappings, lists and scalars), duplicate keys (which PyYAML
would silently resolve to the last one), keys that are not strings, and the strings no backend
stores (NUL, surrogates). Events come from libyaml's parser when PyYAML has it (ten times faster
than the pure-Python one); the composing is PyYAML's own Python, with those refusals added, at
some 15 µs a node, so the largest file costs about a second at worst.

Pure: the standard library, PyYAML and `controlplane.core` only; no Flask, database or broker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from controlplane.core import checks
from controlplane.core.errors import InvalidInputError
from controlplane.core.validation import MAX_NAME_LENGTH, NAME

MAX_STACKFILE_BYTES = 256 * 1024
MAX_SERVICES = 100
# A stackfile nests three collections deep (the file, a service, a list or mapping option). The
# cap leaves room to name a wrongly nested item precisely while keeping every walk shallow.
MAX_NESTING = 10
# Enough for any byte count (2**63 has 19 digits) with underscores; Python would refuse to even
# convert more than 4300 digits, and no option needs more than 20.
MAX_INTEGER_CHARS = 32
FIELD = "stackfile"  # the field of an error about the file as a whole

_YAML = "tag:yaml.org,2002:"
_STRING_TAGS = frozenset({_YAML + "str", _YAML + "value"})  # `=` alone is YAML's value tag
_NULL, BOOL_TAG, INT_TAG, _MERGE = _YAML + "null", _YAML + "bool", _YAML + "int", _YAML + "merge"
_FLOAT = _YAML + "float"


# --- reading YAML ------------------------------------------------------------------------------


def read_yaml(text: str) -> dict[str, dict[str, Any]]:
    """A stackfile's services, from its text: names to their options, as plain data.

    Raises:
        InvalidInputError: naming `stackfile` (bad YAML, with its line and column, or a limit
            passed), a service (a bad name, options that are no mapping), or the key refused
            (`web.image`, given twice).
    """
    return _services(_document(text))


class _Refused(Exception):
    """YAML this module will not compose, with where it starts."""

    def __init__(self, problem: str, event: Event) -> None:
        super().__init__(problem)
        self.problem, self.mark = problem, event.start_mark


class _Composing(Composer):
    """PyYAML's composer with the refusals: aliases, anchors, explicit tags, deep nesting. Each
    is caught at the event that starts it, before anything below it is read."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor):
            raise _Refused("anchors and aliases (& and *) are not accepted", event)
        if isinstance(event, (ScalarEvent, CollectionStartEvent)) and event.tag is not None:
            raise _Refused(f"tags are not accepted (found {quote(event.tag, 100)})", event)
        if not isinstance(event, (SequenceStartEvent, MappingStartEvent)):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _Refused(f"nests deeper than {MAX_NESTING} levels", event)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    if TYPE_CHECKING:  # the parser's, which the stubs give the composer no share of

        def peek_event(self) -> Event: ...

        def dispose(self) -> None: ...


class _PythonLoader(_Composing, Reader, Scanner, Parser, Resolver):
    """PyYAML's own parser, for an install without libyaml. Its scanner's work per token grows
    with the flow nesting (minutes for 100 000 `[`): the nesting cap stops it after the first
    thousand or so, which is as far as it looks ahead."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        Resolver.__init__(self)


_Loader: Callable[[str], _Composing] = _PythonLoader
if yaml.__with_libyaml__:  # pragma: no branch - the pinned wheels have it
    from yaml._yaml import CParser

    class _LibyamlLoader(_Composing, CParser, Resolver):
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            Composer.__init__(self)
            Resolver.__init__(self)

    _Loader = _LibyamlLoader


def _document(text: str) -> Node | None:
    """The composed YAML document, within every limit, or the refusal naming `stackfile`."""
    if not isinstance(text, str):
        raise InvalidInputError(FIELD, "must be a string of YAML")
    if len(text) > MAX_STACKFILE_BYTES:  # cheap first: a character is at least a byte
        raise _too_big(len(text))
    checks.storable(FIELD, text)
    size = len(text.encode())
    if size > MAX_STACKFILE_BYTES:
        raise _too_big(size)
    # Said here with its line, since libyaml tells only the byte offset of such a character.
    bad = Reader.NON_PRINTABLE.search(text)
    if bad is not None:
        raise InvalidInputError(
            FIELD,
            f"is not valid YAML: the character U+{ord(bad.group()):04X} is not allowed"
            f"{_at_offset(text, bad.start())}",
        )
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    except _Refused as exc:
        raise InvalidInputError(FIELD, f"{exc.problem}{_where(exc.mark)}") from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "cannot be read"
        raise InvalidInputError(
            FIELD, f"is not valid YAML: {problem}{_where(exc.problem_mark)}"
        ) from None
    except yaml.YAMLError as exc:  # a reader's refusal the check above did not foresee
        raise InvalidInputError(FIELD, f"is not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _too_big(size: int) -> InvalidInputError:
    return InvalidInputError(FIELD, f"must be at most {MAX_STACKFILE_BYTES} bytes, not {size}")


def _at_offset(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    return f" (line {line}, column {column})"


def _where(mark: Any) -> str:
    return "" if mark is None else f" (line {mark.line + 1}, column {mark.column + 1})"


def quote(text: str, limit: int = 40) -> str:
    """A short repr for messages: never the whole of a 200 KiB scalar."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


@dataclass(frozen=True)
class Plain:
    """An unquoted scalar YAML reads as a boolean, number or date: the text it was written
    with, and what YAML makes of it (its tag)."""

    text: str
    tag: str


def _services(root: Node | None) -> dict[str, dict[str, Any]]:
    """The top-level mapping: valid service names to their option mappings."""
    if root is None:
        raise InvalidInputError(FIELD, "is empty: it must map service names to their options")
    if not isinstance(root, MappingNode):
        raise InvalidInputError(
            FIELD, f"must be a mapping of service names to their options, not {_kind_of(root)}"
        )
    _check_count(len(root.value))  # before anything is read of them
    return _checked(_mapping(root, FIELD))


def _check_count(count: int) -> None:
    if not count:
        raise InvalidInputError(FIELD, "defines no service")
    if count > MAX_SERVICES:
        raise InvalidInputError(FIELD, f"defines {count} services, more than {MAX_SERVICES}")


def _checked(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for name, options in services.items():
        _check_service_name(name)
        if name == "version" and not isinstance(options, dict):
            raise InvalidInputError(
                name,
                "is not a service: a stackfile is Compose's first format, with the services "
                "at the top level (no version or services keys)",
            )
        if not isinstance(options, dict):
            raise InvalidInputError(
                name, f"must be a mapping of options with at least image, not {kind(options)}"
            )
    return services


def _check_service_name(name: str) -> None:
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            FIELD,
            f"service name {quote(name)} is {len(name)} characters long, "
            f"more than {MAX_NAME_LENGTH}",
        )
    if not NAME.fullmatch(name):
        raise InvalidInputError(
            name,
            "is not a valid service name: letters, digits and _ . - starting with a letter "
            "or digit",
        )


def _tree(node: Node, where: str) -> Any:
    """Plain data from a node: dicts (in file order), lists, strings, `Plain` and None."""
    if isinstance(node, MappingNode):
        return _mapping(node, where)
    if isinstance(node, SequenceNode):
        return [_tree(item, f"{where}[{index}]") for index, item in enumerate(node.value)]
    if node.tag in _STRING_TAGS or node.tag == _MERGE:  # `<<` as a value is only text
        return checks.storable(where, node.value)
    if node.tag == _NULL:
        return None
    return Plain(node.value, node.tag)


def _mapping(node: MappingNode, where: str) -> dict[str, Any]:
    """A mapping with string keys, each once; the top level's keys name services."""
    result: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = _key(key_node, where)
        inner = key if where == FIELD else f"{where}.{key}"
        line = key_node.start_mark.line + 1
        if key in lines:
            field = FIELD if len(key) > MAX_NAME_LENGTH else inner
            what = "is defined" if where == FIELD else "is given"
            raise InvalidInputError(field, f"{what} twice (lines {lines[key]} and {line})")
        lines[key] = line
        result[key] = _tree(value_node, inner)
    return result


def _key(node: Node, where: str) -> str:
    line = f"(line {node.start_mark.line + 1})"
    if not isinstance(node, ScalarNode):
        raise InvalidInputError(where, f"has a key that is {_kind_of(node)}, not a string {line}")
    if node.tag == _MERGE:
        raise InvalidInputError(where, f"merge keys (<<) are not accepted {line}")
    if node.tag not in _STRING_TAGS:
        what = "null" if node.tag == _NULL else quote(node.value)
        raise InvalidInputError(
            where, f"has the key {what}, which is not a string: quote it {line}"
        )
    return checks.storable(where, node.value)


def _kind_of(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "null" if node.tag == _NULL else "a scalar"


def kind(value: Any) -> str:
    """What a plain value is, for the refusals that say what was found instead."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, Plain):
        return _PLAIN_KINDS.get(value.tag, "a scalar")
    return "a string"


_PLAIN_KINDS = {
    BOOL_TAG: "a boolean",
    INT_TAG: "an integer",
    _FLOAT: "a decimal number",
    _YAML + "timestamp": "a date",
}


# --- reading decoded JSON ----------------------------------------------------------------------


def read_decoded(document: Any) -> dict[str, dict[str, Any]]:
    """`read_yaml` of a stackfile already decoded: the same plain data, by the same rules, a
    boolean or number as a `Plain` of its JSON text.

    Raises:
        InvalidInputError: as `read_yaml`; a value JSON cannot hold is refused too.
    """
    if not isinstance(document, Mapping):
        raise InvalidInputError(
            FIELD, f"must be a mapping of service names to their options, not {kind(document)}"
        )
    _check_count(len(document))
    return _checked(_decoded_mapping(document, FIELD, 1))


def _decoded(value: Any, where: str, depth: int) -> Any:
    """The data `_tree` makes of YAML, from decoded JSON: a boolean or number becomes a `Plain`
    of its JSON text, so every conversion reads both alike."""
    if isinstance(value, Mapping):
        return _decoded_mapping(value, where, depth + 1)
    if isinstance(value, list):
        if depth + 1 > MAX_NESTING:
            raise InvalidInputError(where, f"nests deeper than {MAX_NESTING} levels")
        return [_decoded(item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value)]
    if value is None:
        return None
    if isinstance(value, str):
        return checks.storable(where, value)
    if isinstance(value, bool):
        return Plain("true" if value else "false", BOOL_TAG)
    if isinstance(value, int):
        if value.bit_length() > 4 * MAX_INTEGER_CHARS:  # str() of a huge one would be refused
            raise InvalidInputError(where, "is too large")
        return Plain(str(value), INT_TAG)
    if isinstance(value, float):
        return Plain(repr(value), _FLOAT)
    raise InvalidInputError(where, f"must be JSON, not a {type(value).__name__}")


def _decoded_mapping(value: Mapping[Any, Any], where: str, depth: int) -> dict[str, Any]:
    if depth > MAX_NESTING:
        raise InvalidInputError(where, f"nests deeper than {MAX_NESTING} levels")
    result: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidInputError(where, f"has the key {key!r}, which is not a string")
        checks.storable(where, key)
        result[key] = _decoded(item, key if where == FIELD else f"{where}.{key}", depth)
    return result
