"""`controlplane container ...`: containers, as `docker` shows its own."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from controlplane.client import wait as waiting
from controlplane.client.commands.common import (
    add_inspect,
    add_lifecycle,
    api,
    create_and_start,
    json_option,
    listing,
    show_state,
    until_interrupted,
    wait_options,
)
from controlplane.client.commands.definition import definition_body, definition_options
from controlplane.client.commands.streaming import print_logs
from controlplane.client.errors import ClientError
from controlplane.client.output import Column, field, last_part, short_uuid
from controlplane.client.resolve import resolve
from controlplane.client.streams import Stream


def ports(row: dict[str, Any]) -> str:
    """Published ports as the old CLIs print them: `host:8080->80/tcp`, or `80/tcp`."""
    shown = []
    for port in row.get("container_ports") or ():
        inner = f"{port['inner_port']}/{port.get('protocol', 'tcp')}"
        outer = port.get("outer_port")
        shown.append(f"{row.get('public_dns')}:{outer}->{inner}" if outer else inner)
    return ", ".join(shown)


COLUMNS: list[Column] = [
    ("UUID", short_uuid),
    ("NAME", field("name")),
    ("IMAGE", field("image_name")),
    ("STATE", field("state")),
    ("PORTS", ports),
    ("NODE", last_part("node")),
]


@click.group()
def container() -> None:
    """Containers: run, list, inspect, follow their logs, exec, start, stop, redeploy, rm."""


def _same_container(found: dict[str, Any]) -> waiting.Belongs:
    return lambda other: other.get("uuid") == found["uuid"]


add_lifecycle(container, "container", _same_container)
add_inspect(container, "container")


@container.command("ls")
@click.option("-a", "--all", "everything", is_flag=True, help="Terminated containers too.")
@click.option("--state", help="Only containers in this state (Running, Stopped ...).")
@click.option("--service", help="Only the containers of this service (name or uuid).")
@json_option
def container_ls(everything: bool, state: str | None, service: str | None, as_json_: bool) -> None:
    """List your containers, oldest first."""
    session = api()
    filters: dict[str, str] = {}
    if state:
        filters["state"] = state
    if service:
        filters["service"] = resolve(session, "service", service)["uuid"]
    rows = [
        row
        for row in session.objects("container/", **filters)
        if everything or state or row["state"] != "Terminated"
    ]
    listing(rows, COLUMNS, as_json_)


@container.command("run", context_settings={"allow_interspersed_args": False})
@definition_options
@click.option("--node", help="The node to run it on (name or uuid); placement picks otherwise.")
@wait_options
@json_option
def container_run(
    image: str, node: str | None, wait: bool, timeout: float, as_json_: bool, **definition: Any
) -> None:
    """Create a container from IMAGE and start it; COMMAND, everything after the image,
    replaces the image's command."""
    body = {"image_name": image, **definition_body(**definition)}
    if node:
        body["node"] = resolve(api(), "node", node)["uuid"]
    show_state(create_and_start("container", body, _same_container, wait, timeout), as_json_)


@container.command("logs")
@click.argument("ident", metavar="CONTAINER")
@click.option(
    "-f", "--follow", is_flag=True, help="Keep printing new lines until it is terminated."
)
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines.")
@until_interrupted
def container_logs(ident: str, follow: bool, tail: int | None) -> None:
    """Print a container's logs (stdout and stderr to yours)."""
    session = api()
    uuid = resolve(session, "container", ident)["uuid"]
    print_logs(session, f"container/{uuid}/logs/", f"/v1/container/{uuid}/logs/", follow, tail)


@container.command("exec", context_settings={"allow_interspersed_args": False})
@click.argument("ident", metavar="CONTAINER")
@click.argument("command", nargs=-1, required=True)
@until_interrupted
def container_exec(ident: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in a running container (no terminal, no stdin) and exit with its status."""
    session = api()
    found = resolve(session, "container", ident)
    path = f"/v1/container/{found['uuid']}/exec/"
    with Stream(session, path, {"command": shlex.join(command)}) as stream:
        for frame in stream.frames():
            if not frame:
                continue
            if frame.get("type") == "output":
                click.echo(frame["output"], nl=False, err=frame.get("streamType") == "stderr")
            elif frame.get("type") == "exit":
                sys.exit(int(frame["exitCode"]))
            elif frame.get("type") == "error":
                raise stream.error(frame)
    raise ClientError(f"the exec stream ended before the command did: {stream.close_message}")
