"""The `controlplane` command: the operator's commands (`controlplane.admincli`), the user's
client commands (`controlplane.client`), and the plugins of the entry point group
`controlplane.commands` (that is how `controlplane agent` appears here without the control plane
importing the agent).

Every subcommand is imported only when it runs: the operator's commands load Flask, SQLAlchemy,
Celery and gunicorn (over a second), which a user's `controlplane container ls` must not wait
for.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

import click

from controlplane.core import logcontext
from controlplane.core.redaction import add_redacting_filter

Loader = Callable[[], click.Command]


def _attribute(target: str) -> Loader:
    """A loader of `module:attribute`."""
    module, _, name = target.partition(":")
    return lambda: getattr(import_module(module), name)


class LazyGroup(click.Group):
    """A group whose subcommands are imported when they are looked up (click's documented
    lazy-loading pattern), named by `module:attribute` or given as loaders."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, Loader] = {
            name: _attribute(target) for name, target in (lazy or {}).items()
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            return self.lazy[cmd_name]()
        return super().get_command(ctx, cmd_name)


class _Commands(LazyGroup):
    """The root group, telling a failure to reach the database in one sentence with a hint
    rather than a traceback, whichever operator's command met it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            from controlplane.admincli import explain_failure  # the server's modules, now

            explained = explain_failure(exc)
            if explained is None:
                raise
            raise click.ClickException(explained) from None


def _configure_log_handler(handler: logging.Handler, log_format: str) -> None:
    """Make the root logger's `handler` redact credentials, add the request id and write
    `log_format` lines (gunicorn's own loggers follow it: `serverlog`)."""
    add_redacting_filter(handler)
    handler.addFilter(logcontext.RequestIdFilter())
    handler.setFormatter(logcontext.formatter(log_format))


_ADMIN = "controlplane.admincli"
_CLIENT = "controlplane.client.commands"


@click.group(
    cls=_Commands,
    lazy={
        "api": "controlplane.apiserver:api",
        "reporter": f"{_ADMIN}:reporter",
        "db": f"{_ADMIN}:db",
        "user": f"{_ADMIN}:user",
        "key": f"{_ADMIN}:key",
        "container": f"{_CLIENT}.containers:container",
        "service": f"{_CLIENT}.services:service",
        "stack": f"{_CLIENT}.stacks:stack",
        "action": f"{_CLIENT}.actions:action",
        "events": f"{_CLIENT}.events:events",
    },
)
@click.version_option(package_name="controlplane", prog_name="controlplane")
@click.option(
    "--log-level",
    default=lambda: os.environ.get("CONTROLPLANE_LOG_LEVEL", "INFO"),
    show_default="INFO",
    help="Logging level (CONTROLPLANE_LOG_LEVEL).",
)
@click.option(
    "--log-format",
    type=click.Choice(logcontext.LOG_FORMATS),
    default=lambda: os.environ.get("CONTROLPLANE_LOG_FORMAT") or "text",
    show_default="text",
    help="Log lines as text or one JSON object each (CONTROLPLANE_LOG_FORMAT).",
)
def main(log_level: str, log_format: str) -> None:
    """controlplane: a self-hosted container control plane speaking the Tutum API.

    The client commands (container, service, stack, node ls, action, events) talk to the API at
    CONTROLPLANE_URL as CONTROLPLANE_USER with CONTROLPLANE_APIKEY (docs/cli.md); the others
    are the operator's, run where the database is (docs/operations.md).
    """
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr)
    # Every record any library logs through the root handler: credentials redacted (§8), the
    # request id of what the thread is doing, in the format asked for.
    for handler in logging.getLogger().handlers:
        _configure_log_handler(handler, log_format)
    # Python's warnings (Celery's about running as root, a library's deprecations) as records
    # too, so that a JSON log holds nothing but JSON lines.
    logging.captureWarnings(log_format == "json")


@main.group(
    cls=LazyGroup,
    lazy={
        "ls": f"{_CLIENT}.nodes:node_ls",
        "inspect": f"{_CLIENT}.nodes:node_inspect",
        "add": f"{_ADMIN}:node_add",
        "ensure": f"{_ADMIN}:node_ensure",
        "rotate": f"{_ADMIN}:node_rotate",
        "revoke": f"{_ADMIN}:node_revoke",
    },
)
def node() -> None:
    """Nodes: list and inspect them through the API (`ls`, `inspect`); enroll them and manage
    their credentials where the database is (`add`, `ensure`, `rotate`, `revoke`,
    docs/operations.md §3.2)."""


def run() -> None:
    """Console entry point: add the plugin commands, then dispatch."""
    for plugin in entry_points(group="controlplane.commands"):
        main.lazy[plugin.name] = plugin.load
    main()
