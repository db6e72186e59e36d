"""`--wait`: follow an Action the API accepted until it ends, printing its progress.

The events stream is opened before the request is sent, so nothing the operation does happens
before the client listens. Events are best-effort (an API process that lost the broker hears
nothing, docs/api.md §7.2), so the action is also read every `POLL` seconds: a lost event costs
at most that much delay, never a hang. If no stream can be opened (the user holds all the
streams one user may), the action is only polled.

Progress goes to stderr, one line per change: the action's state, and the state of each
container the operation concerns (`belongs`), so stdout holds only the command's result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from controlplane.client.api import Api, ApiError, uuid_of
from controlplane.client.errors import ActionFailedError, ClientError
from controlplane.client.streams import Stream

ENDED = {"Success", "Failed", "Canceled"}
_CLOSED = object()
POLL = 2.0
EVENTS = "/v1/events"

Belongs = Callable[[dict[str, Any]], bool]


@contextmanager
def listening(api: Api) -> Iterator[Stream | None]:
    """The user's events stream, or None when the API will not open one now."""
    try:
        stream: Stream | None = Stream(api, EVENTS)
    except ApiError as exc:
        if exc.status not in (429, 503):
            raise
        click.echo(f"({exc.message}; following the action by polling)", err=True)
        stream = None
    try:
        yield stream
    finally:
        if stream is not None:
            stream.close()


class Follower:
    """The progress of one action: what has been printed, and how it ended."""

    def __init__(self, api: Api, action_uuid: str, belongs: Belongs) -> None:
        self.api = api
        self.action_uuid = action_uuid
        self.belongs = belongs
        self.states: dict[str, str] = {}
        self.names: dict[str, str | None] = {}  # container uri -> its name, None if not ours
        self.started = time.monotonic()
        self.label = "action"

    def action(self) -> dict[str, Any]:
        found = self.api.get(f"action/{self.action_uuid}/")
        self.label = found["action"]
        self.action_state(found["state"])
        return found

    def action_state(self, state: str) -> None:
        if state not in ENDED:  # the end is told by `follow`'s caller, with its reason
            self.show("action", self.label, state)

    def show(self, key: str, label: str, state: str) -> None:
        if self.states.get(key) != state:
            self.states[key] = state
            click.echo(f"{label}: {state}", err=True)

    def container_event(self, event: dict[str, Any]) -> None:
        uri = event["resource_uri"]
        if uri not in self.names:
            try:
                container = self.api.get(uri)
            except ApiError:
                container = {}
            self.names[uri] = (
                container.get("name") if container and self.belongs(container) else None
            )
        name = self.names[uri]
        if name is not None:
            self.show(uri, f"  container {name}", event["state"])

    def event(self, event: dict[str, Any]) -> bool:
        """Show one event; True when it says the action ended."""
        if event.get("type") == "container":
            self.container_event(event)
        elif (
            event.get("type") == "action"
            and uuid_of(event.get("resource_uri", "")) == self.action_uuid
        ):
            self.action_state(str(event.get("state")))
            return str(event.get("state")) in ENDED
        return False


def follow(
    api: Api, stream: Stream | None, action_uuid: str, belongs: Belongs, timeout: float
) -> dict[str, Any]:
    """Wait for the action to end; its final record. Failed or Canceled is an error with the
    action's reason, and so is `timeout` seconds passing first."""
    follower = Follower(api, action_uuid, belongs)
    action = follower.action()
    deadline = time.monotonic() + timeout
    next_poll = time.monotonic() + POLL
    frames = stream.frames(timeout=0.5) if stream is not None else None
    while action["state"] not in ENDED:
        now = time.monotonic()
        if now >= deadline:
            raise ClientError(
                f"gave up after {timeout:g} s: the action {action_uuid} is {action['state']}; "
                f"`controlplane action inspect {action_uuid}` shows how it goes on"
            )
        frame: Any = None
        if frames is None:
            time.sleep(0.5)  # no stream to wait on: wait between polls
        else:
            frame = next(frames, _CLOSED)
        if frame is _CLOSED:  # the API closed the stream (it restarted, say): poll from now on
            frames, frame = None, None
        ended = isinstance(frame, dict) and follower.event(frame)
        if ended or now >= next_poll:
            action = follower.action()
            next_poll = now + POLL
    return _outcome(action, time.monotonic() - follower.started)


def _outcome(action: dict[str, Any], took: float) -> dict[str, Any]:
    if action["state"] != "Success":
        reason = action.get("reason") or "no reason given"
        raise ActionFailedError(f"{action['action']} {action['state'].lower()}: {reason}")
    click.echo(f"{action['action']} succeeded in {took:.1f} s", err=True)
    return action


def perform(
    api: Api,
    method: str,
    path: str,
    *,
    wait: bool,
    timeout: float,
    belongs: Belongs,
    body: Any = None,
    **params: Any,
) -> dict[str, Any]:
    """Send an operation; with `wait`, follow its action to the end. The object the API
    answered with, read again after the wait."""
    if not wait:
        return api.act(method, path, body, **params)[0]
    with listening(api) as stream:
        answered, action_uuid = api.act(method, path, body, **params)
        follow(api, stream, action_uuid, belongs, timeout)
    return api.get(answered["resource_uri"])
