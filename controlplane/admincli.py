"""The operator's commands: run the reporter, manage the schema, users, keys and
node credentials. They run where the database is, and load the server's modules, which is why
`controlplane.cli` imports this module only when one of them runs.

Settings come from CONTROLPLANE_* variables (docs/operations.md §1).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
import prometheus_client
from celery import signals
from sqlalchemy.orm import Session

from controlplane.core import logcontext
from controlplane.core.celeryconf import keep_task_payloads_out_of_logs, worker_argv
from controlplane.core.credentials import Credentials
from controlplane.core.environment import SettingsError
from controlplane.core.errors import InvalidInputError, NodeNotFoundError
from controlplane.core.messages import CLAIM_QUEUE, REPORTER_QUEUE
from controlplane.core.shutdown import run_worker
from controlplane.db import backup, diagnosis, enrollment, migrate, users
from controlplane.db.engine import Database
from controlplane.db.models import Node, User
from controlplane.keyring import Keyring
from controlplane.reporter.tasks import make_reporter
from controlplane.settings import Settings

# Seconds a thread of the reporter runs before it must let a waiting one have the interpreter.
REPORTER_SWITCH_INTERVAL = 0.0005


def settings_from_env() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def explain_failure(exc: Exception) -> str | None:
    """One sentence with a hint for a failure to reach the database (`db.diagnosis`), whichever
    command met it; None for any other failure."""
    return diagnosis.explain(exc, settings_from_env().database_url)


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database to the newest schema (safe to repeat)."""
    migrate.upgrade(settings_from_env().database_url)
    click.echo("database is at the newest schema")


@db.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(target: Path) -> None:
    """Copy the SQLite database into the new file TARGET (mode 0600) while the control plane
    runs; PostgreSQL is copied with pg_dump (docs/operations.md §12)."""
    try:
        backup.backup_sqlite(settings_from_env().database_url, target)
    except backup.BackupRefusedError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"database copied to {target}")


@click.group()
def user() -> None:
    """Users and API keys."""


@user.command("create")
@click.argument("username")
def user_create(username: str) -> None:
    """Create a user and print its first API key (shown only once)."""
    database = Database(settings_from_env().database_url)
    with database.session() as session:
        account, created = _ensure_user(session, username)
        if not created:
            raise click.ClickException(f"user {username} exists; use 'controlplane key create'")
        click.echo(users.issue_key(session, account))


@user.command("ensure")
@click.argument("username")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File holding the user's key; written (mode 0600) when a new key is issued.",
)
def user_ensure(username: str, key_file: Path) -> None:
    """Make sure USERNAME exists and the key in KEY_FILE works; print that key.

    Idempotent, for scripted set-ups: a key that still authenticates is reused, otherwise a new
    one is issued and written to the file.
    """
    database = Database(settings_from_env().database_url)
    with database.session() as session:
        account, _ = _ensure_user(session, username)
        key = _read(key_file)
        if not key or users.authenticate(session, Credentials(username, key)) is None:
            key = users.issue_key(session, account)
            _write_secret(key_file, key)
        click.echo(key)


@click.group()
def key() -> None:
    """API keys."""


@key.command("create")
@click.argument("username")
def key_create(username: str) -> None:
    """Issue another API key for an existing user and print it (shown only once)."""
    database = Database(settings_from_env().database_url)
    with database.session() as session:
        click.echo(users.issue_key(session, _user(session, username)))


@key.command("list")
@click.argument("username")
def key_list(username: str) -> None:
    """List a user's keys: id, fingerprint (the start of the key's SHA-256) and when it was
    made; never the keys themselves, which are not kept."""
    database = Database(settings_from_env().database_url)
    with database.read_session() as session:
        keys = users.keys_of(session, _user(session, username))
    click.echo(f"{'ID':<8} {'FINGERPRINT':<14} CREATED")
    for api_key in keys:
        created = api_key.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        click.echo(f"{api_key.id:<8} {users.fingerprint(api_key):<14} {created}")


@key.command("revoke")
@click.argument("username")
@click.argument("which", required=False)
@click.option("--all", "every", is_flag=True, help="Revoke every key of the user.")
def key_revoke(username: str, which: str | None, every: bool) -> None:
    """Revoke one of a user's keys, named by WHICH (its id or fingerprint from `key list`, or
    the key itself), or every key with --all. Requests with it are refused from the next one."""
    if (which is None) == (not every):
        raise click.UsageError("name one key (its id, its fingerprint or the key), or give --all")
    database = Database(settings_from_env().database_url)
    with database.session() as session:
        account = _user(session, username)
        revoked = users.revoke_keys(session, account, which=which)
        if not revoked:  # a key given whole is not echoed: it is a secret, maybe someone's
            named = f"key {which}" if len(which or "") <= users.FINGERPRINT_DIGITS else "such key"
            raise click.ClickException(f"{username} has no {named}; see `key list {username}`")
        left = len(users.keys_of(session, account))
    click.echo(f"revoked {revoked} key{'s' if revoked > 1 else ''} of {username}")
    if not left:
        click.echo(f"{username} has no key left: `controlplane key create {username}` issues one")


def _user(session: Session, username: str) -> User:
    account = users.find_user(session, username)
    if account is None:
        raise click.ClickException(f"no user called {username}")
    return account


def _keyring() -> tuple[Database, Keyring]:
    settings = settings_from_env()
    database = Database(settings.database_url)
    return database, Keyring(database, secret_key(settings))


def secret_key(settings: Settings) -> bytes:
    """The secret key, checked before anything starts: the API, the reporter and the node
    commands cannot work without it."""
    try:
        return settings.require_secret_key()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("add")
@click.argument("name")
def node_add(name: str) -> None:
    """Enroll a node called NAME and print the token its agent starts with (shown only once;
    `node rotate` makes a new one)."""
    database, keyring = _keyring()
    with database.session() as session:
        click.echo(str(keyring.token(_enroll(session, name))))


@click.command("ensure")
@click.argument("name")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File holding the node's token; written (mode 0600) when a new token is issued.",
)
def node_ensure(name: str, token_file: Path) -> None:
    """Make sure a node called NAME is enrolled and the token in TOKEN_FILE is its current one.

    Idempotent, for scripted set-ups: the node is enrolled if it is not, enrolled again if it
    was revoked, and its current token written to the file if the file does not hold it.
    """
    database, keyring = _keyring()
    with database.session() as session:
        try:
            current = enrollment.find_node(session, name)
        except NodeNotFoundError:
            current = _enroll(session, name)
        if current.revoked:
            current = enrollment.rotate(session, current)
        token = str(keyring.token(current))
        if _read(token_file) != token:
            _write_secret(token_file, token)
        click.echo(f"node {current.uuid} ({name}): token in {token_file}")


@click.command("rotate")
@click.argument("node_ident", metavar="NODE")
def node_rotate(node_ident: str) -> None:
    """Issue a new token for NODE (uuid or name) and print it; the old one stops working at
    once, so restart the node's agent with the new one. Re-enrolls a revoked node."""
    database, keyring = _keyring()
    with database.session() as session:
        found = _find(session, node_ident)
        click.echo(str(keyring.token(enrollment.rotate(session, found))))


@click.command("revoke")
@click.argument("node_ident", metavar="NODE")
def node_revoke(node_ident: str) -> None:
    """Refuse everything NODE (uuid or name) sends from now on and place nothing more on it.
    Its containers stay as they are; `node rotate` enrolls it again."""
    database, _ = _keyring()
    with database.session() as session:
        found = enrollment.revoke(session, _find(session, node_ident))
        click.echo(f"node {found.uuid} ({found.name}) revoked")


def _find(session: Session, ident: str) -> Node:
    try:
        return enrollment.find_node(session, ident)
    except NodeNotFoundError as exc:
        raise click.ClickException(exc.message) from None


def _enroll(session: Session, name: str) -> Node:
    try:
        return enrollment.enroll(session, name)
    except InvalidInputError as exc:
        raise click.ClickException(exc.message) from None


def _read(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def _write_secret(path: Path, secret: str) -> None:
    """Write a key or a token to a file only its owner reads, made so before it is written: a
    new directory is 0700, and a file left readable by an earlier version is made 0600 too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(secret + "\n")


def _ensure_user(session: Session, username: str) -> tuple[User, bool]:
    try:
        return users.ensure_user(session, username)
    except InvalidInputError as exc:
        raise click.ClickException(exc.message) from None


@click.command()
@click.option("--concurrency", default=4, show_default=True, help="Report-applying threads.")
def reporter(concurrency: int) -> None:
    """Run the reporter: apply node reports to the database (queue "controlplane") and declare
    nodes that stopped heartbeating Unreachable."""
    settings = settings_from_env()
    secret_key(settings)
    migrate.upgrade(settings.database_url)
    # The reporter's threads mostly wait on Redis and the database, each task a dozen times,
    # while its convergences and heartbeat intake compute: with CPython's default 5 ms switch
    # interval every one of those waits could cost a task 5 ms more to get the interpreter
    # back (docs/performance.md §6.9).
    sys.setswitchinterval(REPORTER_SWITCH_INTERVAL)
    app, sweepers = make_reporter(settings)
    if settings.reporter_metrics is not None:
        host, port = settings.reporter_metrics
        try:
            prometheus_client.start_http_server(port, addr=host)
        except OSError as exc:
            raise click.ClickException(
                f"cannot serve metrics on {host}:{port} (CONTROLPLANE_REPORTER_METRICS_BIND): "
                f"{exc.strerror}"
            ) from None
    keep_task_payloads_out_of_logs()
    for sweeper in sweepers:
        sweeper.start()
    try:
        argv = worker_argv(
            [CLAIM_QUEUE, REPORTER_QUEUE],
            # One name per process, so `celery inspect` tells two reporters on a host apart.
            hostname=f"reporter-{os.getpid()}@%h",
            concurrency=concurrency,
            loglevel=logging.getLevelName(logging.getLogger().level),
            quiet=logcontext.json_lines(),
        )
        # Started again if it stops by itself (core/shutdown.py).
        run_worker(lambda: app.worker_main(argv), signals.worker_shutting_down)
    finally:
        for sweeper in sweepers:
            sweeper.stop()
