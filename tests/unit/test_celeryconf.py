"""Celery's task log lines, as every worker process configures them: the task's name, id and
run time, never its arguments or its return value (a container's output, a claim verdict)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from celery import Celery
from celery.app import trace

from controlplane.core.celeryconf import (
    NOT_LOGGED,
    TASK_LOGGERS,
    TaskPayloadFilter,
    celery_config,
    keep_task_payloads_out_of_logs,
)
from controlplane.core.environment import SettingsError
from controlplane.settings import Settings

PAYLOAD = "hello from the container\n"
ARGUMENT = "the-claim-token"


@pytest.fixture
def quiet_payloads(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The filter installed as a worker installs it (twice: it must not stack), taken off
    afterwards so no other test sees it; INFO captured on Celery's task loggers."""
    keep_task_payloads_out_of_logs()
    keep_task_payloads_out_of_logs()
    for name in TASK_LOGGERS:
        caplog.set_level(logging.INFO, logger=name)
    yield
    for name in TASK_LOGGERS:
        logger = logging.getLogger(name)
        for installed in [f for f in logger.filters if isinstance(f, TaskPayloadFilter)]:
            logger.removeFilter(installed)


def test_the_filter_is_installed_once_on_each_task_logger(quiet_payloads: None) -> None:
    for name in TASK_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, TaskPayloadFilter) for f in filters) == 1


def test_a_success_line_names_the_task_but_not_its_return_value(
    quiet_payloads: None, caplog: pytest.LogCaptureFixture
) -> None:
    app = Celery("test", set_as_current=False, broker="memory://")

    @app.task(name="container.logs")
    def logs(token: str) -> str:
        return PAYLOAD

    # Celery's own tracer, as a worker runs a task (not eagerly, which logs nothing).
    tracer = trace.build_tracer(logs.name, logs, app=app, eager=False)
    tracer("task-1", (ARGUMENT,), {}, {})
    (record,) = [r for r in caplog.records if r.name == "celery.app.trace"]
    message = record.getMessage()
    assert message.startswith("Task container.logs[task-1] succeeded in ")
    assert message.endswith(f": {NOT_LOGGED}")
    assert PAYLOAD.strip() not in message
    assert PAYLOAD not in repr(record.data) and ARGUMENT not in repr(record.data)


def test_a_received_line_shows_no_arguments_by_default_nor_hands_them_to_handlers(
    quiet_payloads: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Celery's format for it holds no arguments ...
    assert "args" not in trace.LOG_RECEIVED
    context = {"id": "task-2", "name": "claim", "args": repr((ARGUMENT,)), "kwargs": "{}"}
    # ... but the context it logs with (celery.worker.strategy) does.
    logging.getLogger("celery.worker.strategy").info(
        trace.LOG_RECEIVED, context, extra={"data": context}
    )
    (record,) = caplog.records
    assert record.getMessage() == "Task claim[task-2] received"
    assert ARGUMENT not in repr(record.data)


def test_no_worker_obeys_remote_control_or_sends_task_events_unless_asked() -> None:
    quiet = celery_config("redis://127.0.0.1:6379/0", visibility_timeout=60)
    assert (quiet["worker_enable_remote_control"], quiet["worker_send_task_events"]) == (
        False,
        False,
    )
    asked = celery_config(
        "redis://127.0.0.1:6379/0", visibility_timeout=60, remote_control=True, task_events=True
    )
    assert (asked["worker_enable_remote_control"], asked["worker_send_task_events"]) == (
        True,
        True,
    )


@pytest.mark.parametrize(("raw", "flag"), [("", False), ("1", True), ("on", True), ("No", False)])
def test_the_reporters_celery_opt_ins_are_read(raw: str, flag: bool) -> None:
    env = {"CONTROLPLANE_CELERY_REMOTE_CONTROL": raw, "CONTROLPLANE_CELERY_TASK_EVENTS": raw}
    settings = Settings.from_env(env)
    assert (settings.celery_remote_control, settings.celery_task_events) == (flag, flag)


def test_a_flag_that_is_neither_yes_nor_no_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="CONTROLPLANE_CELERY_REMOTE_CONTROL must be 1 or 0"):
        Settings.from_env({"CONTROLPLANE_CELERY_REMOTE_CONTROL": "maybe"})
