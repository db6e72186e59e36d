"""Which object a user means by what they typed: a uuid, the start of one, or a name.

Names are tried before uuid prefixes (`web-1` is a name, `3f2a` may be both), and live objects
before terminated ones, which stay listed: `rm web-1` after an earlier `rm web-1` and a new
`run --name web-1` means the new one. Two live objects of one name are an error naming both,
never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from controlplane.client.api import Api, ApiError
from controlplane.client.errors import ClientError

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
PREFIX = re.compile(r"[0-9a-fA-F-]{1,36}")
GONE = {"Terminated"}
# How each kind's objects are found by name: a list filter of the API, or (nodes, which are few
# and have no such filter) a match on a field of every one.
BY_NAME: dict[str, Callable[[Api, str], list[dict[str, Any]]]] = {
    "container": lambda api, name: list(api.objects("container/", name=name)),
    "service": lambda api, name: list(api.objects("service/", name=name)),
    "stack": lambda api, name: list(api.objects("stack/", name=name)),
    "node": lambda api, name: [n for n in api.objects("node/") if n.get("nickname") == name],
    "action": lambda api, name: [],
}


def resolve(api: Api, kind: str, ident: str) -> dict[str, Any]:
    """The one object of `kind` that `ident` names, as the API shows it."""
    if UUID.fullmatch(ident):
        try:
            return api.get(f"{kind}/{ident.lower()}/")
        except ApiError as exc:
            if exc.status == 404:
                raise ClientError(f"no {kind} {ident}") from None
            raise
    found = BY_NAME[kind](api, ident)
    if not found and PREFIX.fullmatch(ident):
        found = list(api.objects(f"{kind}/", uuid__startswith=ident))
    return _one(kind, ident, found)


def _one(kind: str, ident: str, found: list[dict[str, Any]]) -> dict[str, Any]:
    live = [item for item in found if item.get("state") not in GONE]
    if len(live) == 1:
        return live[0]
    if len(live) > 1:
        uuids = ", ".join(item["uuid"] for item in live[:5])
        raise ClientError(f"{ident} names {len(live)} {kind}s ({uuids}); give more of a uuid")
    if found:
        return found[-1]  # lists are in creation order: the newest of the terminated ones
    raise ClientError(f"no {kind} {ident}")
