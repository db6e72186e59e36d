"""Requests made from the API's own OpenAPI document (`GET /api/openapi.json`): every documented
operation, with values its schemas allow, values they do not, and values chosen to break a
parser, a database or a tenant boundary.

A drawn request is a `Call`; it is plain data, so a failing example prints as something a
developer can replay with curl.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from hypothesis import strategies as st

# Values that broke something once, or that some layer cannot hold: NULs and lone surrogates
# (PostgreSQL and SQLite text), integers past 64 bits, dates past year 9999, trailing newlines
# (`$` in a regex), path tricks, and formats the API parses itself.
HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "name\n",
    "\r\n",
    "../../etc/passwd",
    "%00",
    "%2e%2e/",
    "'; DROP TABLE containers; --",
    "\u202e\u0000",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "9223372036854775808",
    "-9223372036854775809",
    "1e309",
    "NaN",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "true",
    "null",
    "[]",
    "{}",
    "x" * 300,
    "y" * 70_000,
]
HOSTILE_NUMBERS = [0, -1, 2**31, 2**31 - 1, 2**63, 2**63 - 1, -(2**63) - 1, 10**30, 1.5, -0.0]
HOSTILE_VALUES: list[Any] = [
    *HOSTILE_TEXT,
    *HOSTILE_NUMBERS,
    None,
    True,
    False,
    [],
    {},
    [None],
    {"": None},
    {"\x00": "\x00"},
]
# Values that pass where a schema's pattern alone draws mostly what other rules refuse (an
# image reference has a grammar no regex states), so that some creates are accepted; every
# other property gets None (the default) as often.
KNOWN_GOOD = {"image_name": ["controlplane/busybox:latest", "busybox", "registry.local:5000/a/b:1"]}
# Header values a client can send (latin-1, no line breaks) that a database may not store.
HOSTILE_HEADERS = ["\x00", "a\x00b", "é" * 10, "\x1b[31m\x7f", "x" * 8000]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# Mostly alice's key, so most requests reach validation; the rest test authentication itself.
AUTH_FORMS = ["alice"] * 8 + ["none", "garbage", "bob-wrong-key", "alice-query"]


@dataclass
class Call:
    """One request: what the fuzzer sends, and which documented operation it aims at."""

    method: str
    path: str
    # The documented path the request matches; None when a path parameter is empty or holds a
    # `/` (sent as %2F, which routing decodes) or a NUL: such a path names nothing (a 404).
    template: str | None
    query: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: str = "alice"

    def __repr__(self) -> str:
        text = (
            f"Call({self.method} {self.path} query={self.query!r} body={self.body!r} "
            f"auth={self.auth} headers={self.headers!r})"
        )
        return text if len(text) < 600 else text[:600] + f"... ({len(text)} characters)"


def url_segment(text: str) -> str:
    """`text` percent-encoded as a hostile client would send it: lone surrogates as the bytes
    Python's surrogatepass makes, which no UTF-8 decoder accepts."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def text_from(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if "enum" in schema:
        return st.sampled_from([str(choice) for choice in schema["enum"]])
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    high = min(schema.get("maxLength", 40), 300)
    return st.text(min_size=schema.get("minLength", 0), max_size=high)


def value_from(
    schema: dict[str, Any], document: dict[str, Any], depth: int = 0
) -> st.SearchStrategy[Any]:
    """A value the schema allows (roughly: formats and cross-field rules are left to chance)."""
    if "$ref" in schema:
        return value_from(resolve(document, schema["$ref"]), document, depth)
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return st.one_of([value_from(s, document, depth) for s in schema[combinator]])
    if "allOf" in schema:
        return value_from(schema["allOf"][0], document, depth)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema.get("type", "string")
    if isinstance(kinds, list):
        return st.one_of([value_from({**schema, "type": kind}, document, depth) for kind in kinds])
    if kinds in ("array", "object"):
        if depth > 3:
            return st.just([] if kinds == "array" else {})
        make = array_from if kinds == "array" else object_from
        return make(schema, document, depth + 1)
    return leaf_from(schema)


def leaf_from(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = schema.get("type", "string")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
    return text_from(schema)


def array_from(
    schema: dict[str, Any], document: dict[str, Any], depth: int
) -> st.SearchStrategy[list[Any]]:
    items = value_from(schema.get("items", {}), document, depth)
    return st.lists(items, max_size=min(schema.get("maxItems", 4), 4))


def object_from(
    schema: dict[str, Any], document: dict[str, Any], depth: int
) -> st.SearchStrategy[dict[str, Any]]:
    properties = {
        name: value_from(sub, document, depth) | st.sampled_from(KNOWN_GOOD.get(name, [None]))
        for name, sub in schema.get("properties", {}).items()
    }
    required = [name for name in schema.get("required", []) if name in properties]
    # A few optional fields at a time: with all thirty of a create drawn at once, one of them
    # is almost always wrong, and no create would ever get past validation.
    optional = sorted(name for name in properties if name not in required)
    chosen = (
        st.lists(st.sampled_from(optional), max_size=3, unique=True) if optional else st.just([])
    )
    fixed = chosen.flatmap(
        lambda names: st.fixed_dictionaries(
            {name: properties[name] for name in [*required, *names]}
        )
    )
    extra = schema.get("additionalProperties")
    if not isinstance(extra, dict):
        return fixed
    more = st.dictionaries(
        st.text(string.ascii_letters, min_size=1, max_size=8),
        value_from(extra, document, depth),
        max_size=3,
    )
    return st.tuples(fixed, more).map(lambda pair: {**pair[1], **pair[0]})


def hostile(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`value`, or one of its leaves replaced by a hostile value, or a hostile value outright."""

    def spoil(original: Any, data: st.DataObject) -> Any:
        if isinstance(original, dict) and original:
            key = data.draw(st.sampled_from(sorted(original)))
            return {**original, key: spoil(original[key], data)}
        if isinstance(original, list) and original:
            index = data.draw(st.integers(0, len(original) - 1))
            return [*original[:index], spoil(original[index], data), *original[index + 1 :]]
        return data.draw(st.sampled_from(HOSTILE_VALUES))

    # Half the draws are values the schema allows, so requests also get past validation.
    return st.one_of(
        value,
        value,
        st.tuples(value, st.data()).map(lambda pair: spoil(*pair)),
        st.sampled_from(HOSTILE_VALUES),
    )


def resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return sorted(
        (template, method.upper(), operation)
        for template, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    )


def raw_bodies() -> st.SearchStrategy[bytes]:
    """Bodies no schema describes: broken JSON, deep nesting, wrong encodings."""
    return st.sampled_from(
        [
            b"",
            b"{",
            b"null",
            b"[]",
            b'"text"',
            b"\xff\xfe\x00",
            b'{"a": 1, "a": 2}',
            b'{"image_name": "\\ud800"}',
            b'{"image_name": "x\\u0000"}',
            b"[" * 990 + b"]" * 990,
            b'{"a":' * 5000 + b"1" + b"}" * 5000,
            b"1" * 5000,
            b'{"image_name": 1e99999}',
        ]
    )


@st.composite
def calls(
    draw: st.DrawFn,
    document: dict[str, Any],
    own: list[str],
    victims: list[str],
) -> Call:
    template, method, operation = draw(st.sampled_from(operations(document)))
    uuids = st.one_of(
        st.sampled_from(own),
        st.sampled_from(own),
        st.sampled_from(victims),
        st.uuids().map(str),
        st.sampled_from(HOSTILE_TEXT).map(url_segment),
    )
    # Mostly her own namespace, so requests get past the namespace check to the rest.
    namespaces = st.sampled_from(["alice"] * 6 + ["bob", "nobody", "ALICE", "%00", "a" * 200])
    path = template
    served = True
    query: list[tuple[str, str]] = []
    for parameter in operation.get("parameters", []):
        parameter = resolve(document, parameter["$ref"]) if "$ref" in parameter else parameter
        name, where, schema = parameter["name"], parameter["in"], parameter.get("schema", {})
        if where == "path":
            value = draw(namespaces if name == "namespace" else uuids)
            path = path.replace("{" + name + "}", value)
            served = served and value != "" and not {"/", "\x00"} & set(unquote(value))
        elif where == "query" and draw(st.booleans()):
            raw = draw(hostile(value_from(schema, document)))
            query.append((name, raw if isinstance(raw, str) else json.dumps(raw)))
    if draw(st.integers(0, 9)) == 0:
        query.append(
            (
                draw(st.sampled_from(["uuid", "state", "limit", "x", "\x00"])),
                draw(st.sampled_from(HOSTILE_TEXT)),
            )
        )
    body = None
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is not None:
        if draw(st.integers(0, 5)) == 0:
            body = draw(raw_bodies())
        else:
            value = draw(hostile(value_from(content.get("schema", {}), document)))
            body = json.dumps(value).encode()
    if draw(st.integers(0, 19)) == 0:
        method = draw(st.sampled_from(METHODS))
    auth = draw(
        st.sampled_from(["alice"] * 8 + ["none", "garbage", "bob-wrong-key", "alice-query"])
    )
    headers: dict[str, str] = {}
    if draw(st.integers(0, 9)) == 0:
        headers["User-Agent"] = draw(st.sampled_from(HOSTILE_HEADERS))
    return Call(method, path, template if served else None, query, body, headers, auth)


# The container operations that write an Action with the request's User-Agent and body.
WRITING_OPERATIONS = ["create", "start", "stop", "redeploy", "terminate"]


@st.composite
def writing_calls(draw: st.DrawFn, container_uuid: str) -> Call:
    """A create, or an action on `container_uuid`, that should be accepted, with a hostile
    User-Agent and (for an action, which reads none) a hostile body."""
    operation = draw(st.sampled_from(WRITING_OPERATIONS))
    tree = draw(st.sampled_from(["/api/v1/", "/api/app/v1/", "/api/app/v1/alice/"]))
    headers = {"User-Agent": draw(st.sampled_from(HOSTILE_HEADERS))}
    if operation == "create":
        body = json.dumps({"image_name": draw(st.sampled_from(KNOWN_GOOD["image_name"]))})
        path = f"{tree}container/"
        return Call(
            "POST", path, path.replace("alice/", "{namespace}/"), [], body.encode(), headers
        )
    body = draw(raw_bodies())
    method, suffix = ("DELETE", "") if operation == "terminate" else ("POST", f"{operation}/")
    path = f"{tree}container/{container_uuid}/{suffix}"
    template = f"{tree}container/{{uuid}}/{suffix}".replace("alice/", "{namespace}/")
    return Call(method, path, template, [], body, headers)
