"""A stackfile read on the client, into the decoded form the API takes (docs/api.md §12.6).

The file is read by the server's own guarded reader (`controlplane.core.stackfile_yaml`: no
aliases, no tags, no duplicate keys), which keeps every unquoted scalar as the text it was
written with. Sent as JSON, such a scalar must become what its text says: a boolean stays
YAML's boolean (`privileged: yes`; the API reads `restart: false` as `restart: no`), an integer
written in plain decimal its number, and everything else the text as written, so `2222:22` is
the port mapping, never YAML 1.1's base-60 integer 133342 that the old CLIs sent.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from controlplane.client.errors import ClientError
from controlplane.core.errors import InvalidInputError
from controlplane.core.stackfile_yaml import BOOL_TAG, FIELD, INT_TAG, Plain, read_yaml

DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")


def read_stackfile(text: str, source: str) -> list[dict[str, Any]]:
    """The services of the stackfile `source`, as a stack create body's `services`."""
    try:
        services = read_yaml(text)
    except InvalidInputError as exc:
        where = "" if exc.field == FIELD else f" ({exc.field})"
        raise ClientError(f"{source}{where}: {exc.problem}") from None
    return [{"name": name, **_decoded(options)} for name, options in services.items()]


def _decoded(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    if isinstance(value, Plain):
        return _scalar(value)
    return value


def _scalar(plain: Plain) -> Any:
    if plain.tag == BOOL_TAG:
        return bool(yaml.safe_load(plain.text))
    if plain.tag == INT_TAG and DECIMAL.fullmatch(plain.text):
        return int(plain.text)
    return plain.text
