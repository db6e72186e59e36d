"""`controlplane events`: what happens to your containers, actions and the nodes, as it
happens."""

from __future__ import annotations

import json
import time

import click

from controlplane.client.api import uuid_of
from controlplane.client.commands.common import api, until_interrupted
from controlplane.client.streams import Stream
from controlplane.client.wait import EVENTS


@click.command("events")
@click.option("--json", "as_json_", is_flag=True, help="Print each event as the API sends it.")
@until_interrupted
def events(as_json_: bool) -> None:
    """Print events until interrupted: time, kind, change, state and object.

    Events are not stored: this shows what happens while it runs (docs/api.md §7.2)."""
    with Stream(api(), EVENTS) as stream:
        for event in stream.frames():
            if event is None:
                continue
            if event.get("type") == "error":
                raise stream.error(event)
            if as_json_:
                click.echo(json.dumps(event, sort_keys=True))
                continue
            uuid = uuid_of(str(event.get("resource_uri", "")))
            click.echo(
                f"{time.strftime('%H:%M:%S')}  {event.get('type', ''):<9}  "
                f"{event.get('action', ''):<6}  {event.get('state', ''):<12}  {uuid}"
            )
        ended = stream.ended("events")
        if ended:
            raise ended
