"""`controlplane action ...`: the record of every operation, newest first."""

from __future__ import annotations

from itertools import islice
from typing import Any

import click

from controlplane.client import wait as waiting
from controlplane.client.commands.common import (
    api,
    json_option,
    listing,
    operate,
    wait_options,
)
from controlplane.client.output import Column, ago, as_json, field, last_part, short_uuid
from controlplane.client.resolve import resolve

COLUMNS: list[Column] = [
    ("UUID", short_uuid),
    ("ACTION", field("action")),
    ("OBJECT", last_part("object")),
    ("STATE", field("state")),
    ("STARTED", ago("start_date")),
    ("REASON", field("reason")),
]


@click.group()
def action() -> None:
    """Actions: what became of each operation; cancel a pending one, retry a failed one."""


@action.command("ls")
@click.option("-n", "--last", type=click.IntRange(min=1), default=25, show_default=True)
@click.option("--state", help="Only actions in this state (Pending, Failed ...).")
@json_option
def action_ls(last: int, state: str | None, as_json_: bool) -> None:
    """List your last actions, newest first."""
    filters = {"state": state} if state else {}
    listing(list(islice(api().objects("action/", **filters), last)), COLUMNS, as_json_)


@action.command("inspect")
@click.argument("ident", metavar="ACTION")
def action_inspect(ident: str) -> None:
    """Print an action (its uuid or uuid prefix) as the API shows it (JSON)."""
    as_json(resolve(api(), "action", ident))


def _its_object(found: dict[str, Any]) -> waiting.Belongs:
    return lambda container: container.get("resource_uri") == found["object"]


def _again(verb: str, does: str) -> click.Command:
    @click.command(verb, help=f"{does} (its uuid or uuid prefix).")
    @click.argument("ident", metavar="ACTION")
    @wait_options
    @json_option
    def command(ident: str, wait: bool, timeout: float, as_json_: bool) -> None:
        session = api()
        found = resolve(session, "action", ident)
        done = operate(
            session, "action", found, f"{verb}/", _its_object, wait=wait, timeout=timeout
        )
        if as_json_:
            as_json(done)
        else:
            click.echo(f"{done['uuid']}   {done['state']}")

    return command


action.add_command(_again("cancel", "Cancel a Pending action"))
action.add_command(_again("retry", "Run a Failed action again"))
