"""`controlplane node ls|inspect`: the nodes, as any user sees them through the API."""

from __future__ import annotations

import click

from controlplane.client.commands.common import api, json_option, listing
from controlplane.client.output import Column, ago, as_json, field, short_uuid
from controlplane.client.resolve import resolve

COLUMNS: list[Column] = [
    ("UUID", short_uuid),
    ("NAME", field("nickname")),
    ("STATE", field("state")),
    ("DOCKER", field("docker_version")),
    ("CONTAINERS", field("current_num_containers")),
    ("LAST SEEN", ago("last_seen")),
]


@click.command("ls")
@json_option
def node_ls(as_json_: bool) -> None:
    """List the nodes, in enrollment order."""
    listing(list(api().objects("node/")), COLUMNS, as_json_)


@click.command("inspect")
@click.argument("ident", metavar="NODE")
def node_inspect(ident: str) -> None:
    """Print a node (its name, uuid or uuid prefix) as the API shows it (JSON)."""
    as_json(resolve(api(), "node", ident))
