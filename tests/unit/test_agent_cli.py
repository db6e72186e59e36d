"""`controlplane --log-level LEVEL agent`: the agent's Celery worker runs at that level (no
broker, no Docker: the agent's parts are stand-ins)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import signals
from click.testing import CliRunner

import workers.agent
from controlplane.cli import main
from controlplane.core.signing import NodeToken
from workers.agent import Agent
from workers.cli import agent

NODE_UUID = "6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01"


class Idle:
    """A thread of the agent that does nothing."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class Worker:
    """Stands in for the agent's Celery app: keeps the worker's arguments instead of running."""

    def __init__(self) -> None:
        self.argv: list[str] = []

    def worker_main(self, argv: list[str]) -> None:
        """Ends as a worker told to stop does (anything else exits 1, core/shutdown.py)."""
        self.argv = argv
        signals.worker_shutting_down.send(sender="agent", sig="SIGTERM", how="Warm", exitcode=0)

    @property
    def loglevel(self) -> str:
        return self.argv[self.argv.index("--loglevel") + 1]


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Worker:
    """`controlplane agent` as the console script registers it, running a stand-in agent."""
    app = Worker()

    def make_agent(settings: object) -> Agent:
        idle: Any = Idle()
        return Agent(app=app, heartbeat=idle, streams=idle, execs=idle, relist=idle, watcher=None)

    monkeypatch.setattr(workers.agent, "make_agent", make_agent)
    monkeypatch.setitem(main.commands, "agent", agent)
    monkeypatch.setenv(
        "CONTROLPLANE_AGENT_TOKEN", str(NodeToken(node_uuid=NODE_UUID, key=b"k" * 32))
    )
    monkeypatch.delenv("CONTROLPLANE_LOG_LEVEL", raising=False)
    return app


@contextmanager
def unconfigured_logging() -> Iterator[None]:
    """A root logger without handlers, as in a fresh process: `logging.basicConfig`, which sets
    the level of `--log-level`, leaves a configured one alone, and pytest's is configured."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    for handler in handlers:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize(("option", "level"), [("debug", "DEBUG"), ("WARNING", "WARNING")])
def test_the_agents_worker_runs_at_the_log_level_asked_for(
    worker: Worker, option: str, level: str
) -> None:
    with unconfigured_logging():
        result = CliRunner().invoke(main, ["--log-level", option, "agent"])
    assert result.exit_code == 0, result.output
    assert worker.loglevel == level


def test_without_the_option_the_agents_worker_runs_at_info(worker: Worker) -> None:
    with unconfigured_logging():
        result = CliRunner().invoke(main, ["agent"])
    assert result.exit_code == 0, result.output
    assert worker.loglevel == "INFO"
