"""The agent's Celery app: consumes only its own node's queue, with a thread pool because every
task waits on the Docker Engine rather than on the CPU.

The agent outlives its broker: Celery reconnects for as long as it takes, and a worker that
stops without being asked to is started again (`controlplane.core.shutdown`); one that exits
makes the process exit with status 1, never 0, for a supervisor restarting on failure
(scripts/run.sh does) to bring the node back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import prometheus_client
import redis
from celery import Celery, signals

from controlplane.core.celeryconf import (
    celery_config,
    keep_task_payloads_out_of_logs,
    worker_argv,
)
from controlplane.core.logcontext import json_lines
from controlplane.core.messages import node_queue
from controlplane.core.shutdown import run_worker
from workers.docker.driver import DockerDriver
from workers.errors import StartupError
from workers.execstream import ExecStreams
from workers.heartbeat import Heartbeat
from workers.inflight import Inflight
from workers.logstream import LogStreams
from workers.relist import Relist
from workers.reports import Reports
from workers.settings import PREFIX, AgentSettings
from workers.tasks import register_tasks
from workers.watcher import Watcher


@dataclass(frozen=True)
class Agent:
    """The agent's Celery app and the threads that run beside its task pool."""

    app: Celery
    heartbeat: Heartbeat
    streams: LogStreams
    execs: ExecStreams
    relist: Relist
    watcher: Watcher | None


def make_agent(settings: AgentSettings) -> Agent:
    app = Celery("agent", set_as_current=False)
    app.conf.update(
        celery_config(settings.broker_url, visibility_timeout=settings.visibility_timeout)
    )
    # One record of what the agent is doing, shared by the tasks that do it, the driver and the
    # watcher, which must not report it a second time.
    inflight = Inflight()
    driver = DockerDriver(
        settings.docker_url,
        node_uuid=settings.node_uuid,
        inflight=inflight,
        pull_missing=settings.pull == "missing",
        publish_ip=settings.publish_ip,
        # One connection per task thread, plus the watcher's event stream and its inspects,
        # the relist and the heartbeat (a log stream opens its own beyond these).
        pool_size=settings.concurrency + 4,
    )
    reports = Reports(app, token=settings.token, tags=settings.tags)
    # Log lines and exec output go out on Redis pub/sub (see workers.channels), so streams need
    # Redis as the broker, as the result store of the REST logs request already does.
    channels = redis.Redis.from_url(settings.broker_url)
    streams = LogStreams(driver, channels, settings.token)
    execs = ExecStreams(driver, channels, settings.token)
    register_tasks(
        app, driver, inflight, reports, streams, execs, allow_dangerous=settings.allow_dangerous
    )
    return Agent(
        app=app,
        heartbeat=Heartbeat(driver, reports, interval=settings.heartbeat_interval),
        streams=streams,
        execs=execs,
        relist=Relist(driver, reports, interval=settings.relist_interval),
        watcher=Watcher(driver, reports, inflight) if settings.watch_events else None,
    )


def _serve_metrics(host: str, port: int) -> None:
    """Serve the agent's metrics (workers/metrics.py), before anything else starts.

    Raises:
        StartupError: the address cannot be bound.
    """
    try:
        prometheus_client.start_http_server(port, addr=host)
    except OSError as exc:
        raise StartupError(
            f"cannot serve metrics on {host}:{port} ({PREFIX}METRICS_BIND): {exc.strerror}"
        ) from None


def run_agent(settings: AgentSettings) -> None:
    agent = make_agent(settings)
    if settings.metrics is not None:
        _serve_metrics(*settings.metrics)
    keep_task_payloads_out_of_logs()
    agent.heartbeat.start()
    if agent.watcher is not None:
        agent.watcher.start()
    agent.relist.start()
    argv = worker_argv(
        [node_queue(settings.node_uuid)],
        hostname=f"agent-{settings.node_uuid}@%h",
        concurrency=settings.concurrency,
        # The level `controlplane --log-level` gave the root logger: Celery sets the root
        # logger to the level it is given, so a fixed one would override the option.
        loglevel=logging.getLevelName(logging.getLogger().level),
        quiet=json_lines(),
    )
    try:
        run_worker(lambda: agent.app.worker_main(argv), signals.worker_shutting_down)
    finally:
        agent.relist.stop()
        if agent.watcher is not None:
            agent.watcher.stop()
        agent.streams.stop()
        agent.execs.stop()
        agent.heartbeat.stop()
