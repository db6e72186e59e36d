"""The options of `container run` and `service run` that say what a container is made from,
and the create body fields they become (docs/api.md §3.4)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
PORT = re.compile(r"(?:(?P<outer>\d{1,5}):)?(?P<inner>\d{1,5})(?:/(?P<protocol>tcp|udp))?")
RESTART = click.Choice(["OFF", "ON_FAILURE", "ALWAYS"], case_sensitive=False)


def definition_options(function: F) -> F:
    """IMAGE, COMMAND and the options below them, in the order `--help` shows them."""
    for option in reversed(
        (
            click.argument("image"),
            click.argument("command", nargs=-1),
            click.option("--name", help="Its name (the image's last path part by default)."),
            click.option(
                "-e", "--env", multiple=True, metavar="KEY=VALUE", help="An environment variable."
            ),
            click.option(
                "-p",
                "--publish",
                multiple=True,
                metavar="[OUTER:]INNER[/PROTO]",
                help="Publish a port on the node (a free one when OUTER is left out).",
            ),
            click.option("--tag", "tags", multiple=True, help="Run on a node with this tag."),
            click.option("--autorestart", type=RESTART, help="Docker's restart policy."),
        )
    ):
        function = option(function)
    return function


def definition_body(
    command: tuple[str, ...],
    name: str | None,
    env: tuple[str, ...],
    publish: tuple[str, ...],
    tags: tuple[str, ...],
    autorestart: str | None,
) -> dict[str, Any]:
    """The create body's fields of what the options gave; the API checks the values."""
    body: dict[str, Any] = {}
    if command:
        body["run_command"] = shlex.join(command)  # the API splits it as a shell would
    if name:
        body["name"] = name
    if env:
        body["container_envvars"] = [_variable(text) for text in env]
    if publish:
        body["container_ports"] = [_port(text) for text in publish]
    if tags:
        body["tags"] = [{"name": tag} for tag in tags]
    if autorestart:
        body["autorestart"] = autorestart.upper()
    return body


def _port(text: str) -> dict[str, Any]:
    matched = PORT.fullmatch(text)
    if matched is None:
        raise click.BadParameter(f"{text!r} is not [OUTER:]INNER[/tcp|udp]", param_hint="--publish")
    port: dict[str, Any] = {"inner_port": int(matched["inner"])}
    if matched["outer"]:
        port["outer_port"] = int(matched["outer"])
    if matched["protocol"]:
        port["protocol"] = matched["protocol"]
    return port


def _variable(text: str) -> dict[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise click.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--env")
    return {"key": key, "value": value}
