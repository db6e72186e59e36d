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
this module maps it to service bodies, each key's value read by its reader in
`controlplane.core.stackfile_keys`. The way back, for a stack's export, is
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.core.errors import InvalidInputError
from controlplane.core.stackfile_keys import READERS, UNSUPPORTED_KEYS, container_ports
from controlplane.core.stackfile_yaml import (
    quote,
    read_decoded,
    read_yaml,
)


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
        field, convert = READERS[key]
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
    if key in READERS:
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
    merged = container_ports(converted.get("ports", []), converted.get("expose", []))
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
