"""`controlplane service ...`: services, each a template for a number of containers."""

from __future__ import annotations

from typing import Any

import click

from controlplane.client import wait as waiting
from controlplane.client.commands.common import (
    add_lifecycle,
    add_listing,
    api,
    create_and_start,
    json_option,
    operate,
    show_state,
    until_interrupted,
    wait_options,
)
from controlplane.client.commands.definition import definition_body, definition_options
from controlplane.client.commands.streaming import print_logs
from controlplane.client.output import Column, field, last_part, short_uuid
from controlplane.client.resolve import resolve

COLUMNS: list[Column] = [
    ("UUID", short_uuid),
    ("NAME", field("name")),
    ("IMAGE", field("image_name")),
    ("STATE", field("state")),
    (
        "RUNNING",
        lambda row: f"{row.get('running_num_containers')}/{row.get('target_num_containers')}",
    ),
    ("STACK", last_part("stack")),
]
STRATEGY = click.Choice(["EMPTIEST_NODE", "HIGH_AVAILABILITY", "EVERY_NODE"], case_sensitive=False)


@click.group()
def service() -> None:
    """Services: run, list, inspect, scale, follow their logs, start, stop, redeploy, rm."""


def containers_of(found: dict[str, Any]) -> waiting.Belongs:
    return lambda container: container.get("service") == found["resource_uri"]


add_lifecycle(service, "service", containers_of)
add_listing(service, "service", COLUMNS)


@service.command("run", context_settings={"allow_interspersed_args": False})
@definition_options
@click.option("-n", "--containers", type=click.IntRange(0, 1000), default=1, show_default=True)
@click.option("--strategy", type=STRATEGY, help="How its containers are spread over the nodes.")
@wait_options
@json_option
def service_run(
    image: str,
    containers: int,
    strategy: str | None,
    wait: bool,
    timeout: float,
    as_json_: bool,
    **definition: Any,
) -> None:
    """Create a service of IMAGE and deploy its containers."""
    body = {"image": image, "target_num_containers": containers, **definition_body(**definition)}
    if strategy:
        body["deployment_strategy"] = strategy.upper()
    show_state(create_and_start("service", body, containers_of, wait, timeout), as_json_)


@service.command("scale")
@click.argument("ident", metavar="SERVICE")
@click.argument("count", type=click.IntRange(0, 1000))
@wait_options
@json_option
def service_scale(ident: str, count: int, wait: bool, timeout: float, as_json_: bool) -> None:
    """Run COUNT containers of a service."""
    session = api()
    found = resolve(session, "service", ident)
    body = {"target_num_containers": count}
    scaled = operate(
        session, "service", found, "scale/", containers_of, wait=wait, timeout=timeout, body=body
    )
    show_state(scaled, as_json_)


@service.command("logs")
@click.argument("ident", metavar="SERVICE")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines of each.")
@until_interrupted
def service_logs(ident: str, follow: bool, tail: int | None) -> None:
    """Print the logs of every container of a service, each line led by its container."""
    session = api()
    uuid = resolve(session, "service", ident)["uuid"]
    print_logs(session, f"service/{uuid}/logs/", f"/v1/service/{uuid}/logs/", follow, tail)
