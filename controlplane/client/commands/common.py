"""What the client's commands share: the API session, `--json`, `--wait`, and the lifecycle
operations (start, stop, redeploy, rm) every kind of object has."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from controlplane.client import wait as waiting
from controlplane.client.api import Api
from controlplane.client.config import load_config
from controlplane.client.output import Column, as_json, table
from controlplane.client.resolve import resolve

F = TypeVar("F", bound=Callable[..., Any])
# Seconds `--wait` waits by default: a redeploy of a large service replaces its containers one
# at a time, each within the node's stop timeout.
WAIT_TIMEOUT = 300.0
# How each kind tells whether a container belongs to the object an operation was on.
Belonging = Callable[[dict[str, Any]], waiting.Belongs]


def api() -> Api:
    return Api(load_config())


def until_interrupted(function: F) -> F:
    """For the commands that follow a stream until the user stops them (`logs -f`, `exec`,
    `events`): Ctrl-C ends them quietly, exit status 130 as a shell gives, instead of click's
    `Aborted!`; the stream is closed on the way out."""

    @functools.wraps(function)
    def interruptible(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except KeyboardInterrupt:
            raise SystemExit(130) from None

    return cast(F, interruptible)


def json_option(function: F) -> F:
    return click.option("--json", "as_json_", is_flag=True, help="Print the API's JSON.")(function)


def wait_options(function: F) -> F:
    function = click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=WAIT_TIMEOUT,
        show_default=True,
        help="Seconds --wait waits before it gives up.",
    )(function)
    return click.option(
        "--wait",
        is_flag=True,
        help="Follow the operation until it ends, printing its progress on stderr; exit 1 with "
        "the reason if it fails.",
    )(function)


def listing(rows: list[dict[str, Any]], columns: list[Column], json_wanted: bool) -> None:
    if json_wanted:
        as_json(rows)
    else:
        table(rows, columns)


def show_state(found: dict[str, Any], json_wanted: bool) -> None:
    """An object after an operation: its JSON, or its name and state."""
    if json_wanted:
        as_json(found)
    else:
        click.echo(f"{found.get('name') or found['uuid']}   {found['state']}")


def operate(
    session: Api,
    kind: str,
    found: dict[str, Any],
    suffix: str,
    belonging: Belonging,
    *,
    wait: bool,
    timeout: float,
    method: str = "POST",
    body: Any = None,
    **params: Any,
) -> dict[str, Any]:
    """An operation on the object `found` (`suffix` after its path), followed with `wait`."""
    return waiting.perform(
        session,
        method,
        f"{kind}/{found['uuid']}/{suffix}",
        wait=wait,
        timeout=timeout,
        belongs=belonging(found),
        body=body,
        **params,
    )


def create_and_start(
    kind: str, body: dict[str, Any], belonging: Belonging, wait: bool, timeout: float
) -> dict[str, Any]:
    """`run` and `up`: create the object, then start it."""
    session = api()
    created, _ = session.act("POST", f"{kind}/", body)
    return operate(session, kind, created, "start/", belonging, wait=wait, timeout=timeout)


def add_listing(group: click.Group, kind: str, columns: list[Column]) -> None:
    """`ls [-a] [--json]` and `inspect` of `kind`."""

    @group.command("ls", help=f"List your {kind}s.")
    @click.option("-a", "--all", "everything", is_flag=True, help=f"Terminated {kind}s too.")
    @json_option
    def ls(everything: bool, as_json_: bool) -> None:
        rows = api().objects(f"{kind}/")
        listing(
            [row for row in rows if everything or row["state"] != "Terminated"], columns, as_json_
        )

    add_inspect(group, kind)


def add_inspect(group: click.Group, kind: str) -> None:
    """`inspect` of `kind`: the API's JSON of each object named."""

    @group.command("inspect", help=f"Print {kind}s as the API shows them (JSON).")
    @click.argument("idents", metavar=kind.upper() + "...", nargs=-1, required=True)
    def inspect(idents: tuple[str, ...]) -> None:
        session = api()
        found = [resolve(session, kind, ident) for ident in idents]
        as_json(found[0] if len(found) == 1 else found)


# (command, HTTP method, path after the object's, what it does)
LIFECYCLE = (
    ("start", "POST", "start/", "Start"),
    ("stop", "POST", "stop/", "Stop"),
    ("redeploy", "POST", "redeploy/", "Replace with fresh containers from the definition of"),
    ("rm", "DELETE", "", "Terminate"),
)


def add_lifecycle(group: click.Group, kind: str, belonging: Belonging) -> None:
    """`start`, `stop`, `redeploy` and `rm` of `kind`, each taking one or more objects."""
    for name, method, suffix, does in LIFECYCLE:
        group.add_command(_lifecycle_command(kind, belonging, name, method, suffix, does))


def _lifecycle_command(
    kind: str, belonging: Belonging, name: str, method: str, suffix: str, does: str
) -> click.Command:
    @click.command(name, help=f"{does} each {kind.upper()} (a name, uuid or uuid prefix).")
    @click.argument("idents", metavar=kind.upper() + "...", nargs=-1, required=True)
    @wait_options
    @json_option
    def command(
        idents: tuple[str, ...], wait: bool, timeout: float, as_json_: bool, **query: bool
    ) -> None:
        session = api()
        params = {key: str(value).lower() for key, value in query.items()}
        for ident in idents:
            found = resolve(session, kind, ident)
            done = operate(
                session,
                kind,
                found,
                suffix,
                belonging,
                wait=wait,
                timeout=timeout,
                method=method,
                **params,
            )
            show_state(done, as_json_)

    if name == "redeploy":
        command = click.option(
            "--reuse-volumes/--no-reuse-volumes",
            default=True,
            show_default=True,
            help="Give the new containers the old ones' volumes, or fresh ones.",
        )(command)
    return command
