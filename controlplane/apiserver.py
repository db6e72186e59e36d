"""`controlplane api`: the REST API and the websocket streams, served by gunicorn in-process.

The workers' Prometheus metrics (`controlplane.api.metrics`) are added up across the workers
through files in one directory, which prometheus-client reads from PROMETHEUS_MULTIPROC_DIR
when it is first imported. So this command sets that variable before it imports the server's
modules (the imports inside `api` are there for that reason), and this module imports none of
them itself: the workers, forked from this process, inherit the setting.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def stream_slots(threads: int) -> int:
    """How many websockets one worker may hold open: each holds one of its threads for as long
    as it is open, so a quarter of them (at least two) stay for REST requests."""
    return max(threads - max(threads // 4, 2), 1)


def metrics_dir() -> tuple[Path, bool]:
    """The directory of the workers' metric files, set in PROMETHEUS_MULTIPROC_DIR, and
    whether this process made it (and removes it at exit). An operator's directory (systemd's
    RuntimeDirectory, say) is used as it is, emptied of an earlier run's files, as
    prometheus-client requires."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        path = Path(given)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    made = Path(tempfile.mkdtemp(prefix="controlplane-api-metrics-"))
    os.environ[MULTIPROC_DIR] = str(made)
    return made, True


def _worker_exited(_server: Any, worker: Any) -> None:
    """gunicorn's `child_exit`: a dead worker's live gauges (its open websockets) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@click.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="Address to listen on.")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option(
    "--threads",
    default=100,
    show_default=True,
    help="Threads per worker; three quarters of them may hold open websockets.",
)
def api(bind: str, workers: int, threads: int) -> None:
    """Serve the REST API and the websocket streams with gunicorn (threaded workers that read
    each request in full before a thread takes it)."""
    directory, made = metrics_dir()
    try:
        _serve(bind, workers, threads)
    finally:
        if made:
            shutil.rmtree(directory, ignore_errors=True)


def _serve(bind: str, workers: int, threads: int) -> None:
    # Imported only now, with PROMETHEUS_MULTIPROC_DIR set (the module's docstring says why).
    from flask import Flask
    from gunicorn.app.base import BaseApplication

    from controlplane.admincli import secret_key, settings_from_env
    from controlplane.app import MAX_BODY_BYTES, create_app
    from controlplane.db import migrate
    from controlplane.httpserver.worker import RequestLimits, preread_worker
    from controlplane.serverlog import RedactingLogger

    settings = settings_from_env()
    secret_key(settings)
    migrate.upgrade(settings.database_url)
    options = {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        # A slow client holds a socket, never a thread (controlplane.httpserver).
        "worker_class": preread_worker(
            RequestLimits(read_timeout=settings.request_read_timeout, body_bytes=MAX_BODY_BYTES)
        ),
        "accesslog": "-",
        # Query credentials and Authorization headers never reach the logs (docs/operations.md §8).
        "logger_class": RedactingLogger,
        "graceful_timeout": 10,
        # gunicorn's control socket (`gunicornc`) is one path per $HOME: two APIs on one host
        # would share it. Workers and reloads are the operator's service manager's business.
        "control_socket_disable": True,
        "child_exit": _worker_exited,
    }

    class Server(BaseApplication):
        """gunicorn run in-process, so the API starts with one command and the same settings."""

        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self) -> Flask:
            return create_app(settings, STREAM_SLOTS=stream_slots(threads))

    Server().run()
