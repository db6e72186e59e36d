"""One client SDK configured against the plane (`Sdk`, made by the `sdk` fixtures of
tests/conformance/conftest.py), and the helpers the conformance tests share."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from tests.support.locations import IMAGE
from tests.support.waiting import wait_for


def basic(username: str, key: str) -> str:
    """What `basic_auth` holds: base64 of `user:key`, as text (the SDK adds `Basic `)."""
    return base64.b64encode(f"{username}:{key}".encode()).decode()


@dataclass(frozen=True)
class Sdk:
    """One client SDK configured against the plane, and how it differs from the other one."""

    name: str
    module: Any  # the SDK's top-level module, where its configuration lives
    api_error: type[Exception]
    auth_error: type[Exception]
    verbatim_auth_attr: str  # tutum_auth / dockercloud_auth: a whole Authorization value
    action_uri_attr: str  # tutum_action_uri / dockercloud_action_uri, set from the header
    create_path: str  # the path its send_request() POSTs a new container to
    container_collection: str
    action_collection: str
    node_collection: str

    @property
    def Container(self) -> Any:  # named like the SDK class it returns
        return self.module.Container

    @property
    def Action(self) -> Any:
        return self.module.Action

    @property
    def Node(self) -> Any:
        return self.module.Node

    def authenticate(self, *, basic_auth: str | None = None, verbatim: str | None = None) -> None:
        """Set the credentials the SDK sends (the verbatim header wins in both SDKs)."""
        self.module.basic_auth = basic_auth
        setattr(self.module, self.verbatim_auth_attr, verbatim)

    def create(self, **fields: Any) -> dict[str, Any]:
        """POST a new container through the SDK's own HTTP layer (tutum-api.md §1.5): the SDKs
        forbid `Container.save()`, so `send_request` is the only SDK way to create one."""
        fields.setdefault("image_name", IMAGE)
        body = self.module.api.http.send_request("POST", self.create_path, data=json.dumps(fields))
        return dict(body)

    def action_uri(self, obj: Any) -> str:
        return str(getattr(obj, self.action_uri_attr))

    def wait_state(self, container: Any, state: str, timeout: float = 30) -> Any:
        """`refresh()` the SDK object until it reaches `state`; returns it."""

        def reached() -> bool:
            container.refresh()
            return bool(container.state == state)

        wait_for(reached, timeout, interval=0.1)
        return container

    def wait_action(self, action_uri: str, timeout: float = 30) -> Any:
        """`Action.fetch` the action behind an action URI until it succeeds or fails."""
        action_uuid = uuid_from_uri(action_uri)

        def finished() -> Any:
            action = self.Action.fetch(action_uuid)
            return action if action.state in ("Success", "Failed") else None

        return wait_for(finished, timeout, interval=0.1)


def uuid_from_uri(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]
