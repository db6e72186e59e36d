"""`controlplane stack ...`: stacks, the services made together from one stackfile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from controlplane.client import wait as waiting
from controlplane.client.commands.common import (
    add_lifecycle,
    add_listing,
    api,
    create_and_start,
    json_option,
    show_state,
    wait_options,
)
from controlplane.client.errors import ClientError
from controlplane.client.output import Column, field, short_uuid
from controlplane.client.resolve import resolve
from controlplane.client.stackfile import read_stackfile

COLUMNS: list[Column] = [
    ("UUID", short_uuid),
    ("NAME", field("name")),
    ("STATE", field("state")),
    ("SERVICES", lambda row: ", ".join(s.get("name", "") for s in row.get("services") or ())),
]


@click.group()
def stack() -> None:
    """Stacks: bring one up from a stackfile, list, inspect, export, start, stop, redeploy, rm."""


def containers_of(found: dict[str, Any]) -> waiting.Belongs:
    services = {item["resource_uri"] for item in found.get("services") or ()}
    return lambda container: container.get("service") in services


add_lifecycle(stack, "stack", containers_of)
add_listing(stack, "stack", COLUMNS)


@stack.command("up")
@click.argument("stackfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="The stack's name (the stackfile's directory's by default).")
@wait_options
@json_option
def stack_up(stackfile: Path, name: str | None, wait: bool, timeout: float, as_json_: bool) -> None:
    """Create a stack from STACKFILE (docs/api.md §12) and start its services."""
    try:
        text = stackfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientError(f"cannot read {stackfile}: {exc}") from None
    body = {
        "name": name or stackfile.resolve().parent.name,
        "services": read_stackfile(text, str(stackfile)),
    }
    show_state(create_and_start("stack", body, containers_of, wait, timeout), as_json_)


@stack.command("export")
@click.argument("ident", metavar="STACK")
def stack_export(ident: str) -> None:
    """Print a stack as a stackfile that `stack up` reads back."""
    session = api()
    found = resolve(session, "stack", ident)
    exported = session.get(f"stack/{found['uuid']}/export/")
    click.echo(yaml.safe_dump(exported, sort_keys=False, allow_unicode=True), nl=False)
