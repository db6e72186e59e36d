"""`GET /metrics`: the API's Prometheus metrics, without credentials, like the probes.

Two kinds:

- What the API processes did, kept by each gunicorn worker and added up across them through
  prometheus-client's files in PROMETHEUS_MULTIPROC_DIR (`controlplane api` sets it,
  `controlplane.apiserver`): requests by route, method and status with their latency, and the
  websockets open now. Without that variable (one process: the tests' apps) the process's own
  registry is served.
- What the control plane holds, read when scraped by whichever worker answers, so every worker
  tells the same: containers, nodes and actions by state, and the depth of each broker queue
  (the reporter's, the claims', the heartbeats' and each node's). A failed read is logged and
  leaves its metrics out of that scrape, with `controlplane_scrape_error` 1; the rest is served.

Routes are Flask's URL rules (`/api/v1/container/<uuid>/`), never the paths themselves, so a
client cannot make a label per uuid; a path no rule matched is `unmatched`. The counts say
nothing of any user: no names, no uuids but the nodes'.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable

import redis
from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from controlplane.api.base import services
from controlplane.api.health import broker_client
from controlplane.api.instruments import LATENCY, REQUESTS
from controlplane.core.messages import CLAIM_QUEUE, HEARTBEAT_QUEUE, REPORTER_QUEUE, node_queue
from controlplane.db import tallies

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"


def register(app: Flask) -> None:
    """Time every request, those the first checks refuse too, and serve `/metrics`."""
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_count)
    app.add_url_rule(METRICS_PATH, endpoint="metrics", view_func=metrics_view)


def _begin() -> None:
    g.metrics_started = time.perf_counter()


def _route() -> str:
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def _served_session(response: Response) -> bool:
    """Whether this was a websocket session, counted while open (`instruments`) and never
    timed: its "request" lasts as long as the socket. A refused handshake is a request."""
    return bool(getattr(request.url_rule, "websocket", False)) and response.status_code < 400


def _count(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None or _served_session(response):
        return response
    route, method = _route(), request.method
    REQUESTS.labels(route, method, str(response.status_code)).inc()
    LATENCY.labels(route, method).observe(time.perf_counter() - started)
    return response


def metrics_view() -> Response:
    body = generate_latest(_workers()) + generate_latest(_held())
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def _workers() -> CollectorRegistry:
    """What the API processes did: every worker's files added up, or this process's own."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def _held() -> CollectorRegistry:
    """What the control plane holds, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector())
    return registry


class StateCollector(Collector):
    """What the database and the broker hold, read at the scrape."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        failed, nodes = 0, list[str]()
        try:
            families, nodes = _database()
            yield from families
        except SQLAlchemyError as exc:
            log.warning("metrics: the database does not answer: %s", exc)
            failed = 1
        try:
            yield _queues(nodes)
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics: the broker does not answer: %s", exc)
            failed = 1
        error = GaugeMetricFamily(
            "controlplane_scrape_error", "1 when the database or the broker could not be read."
        )
        error.add_metric([], failed)
        yield error


def _database() -> tuple[list[GaugeMetricFamily], list[str]]:
    """The objects by state, and the nodes' uuids."""
    with services().database.read_session() as session:
        counted, nodes = tallies.by_state(session), tallies.node_uuids(session)
    families = []
    for kind, counts in counted.items():
        family = GaugeMetricFamily(
            f"controlplane_{kind}", f"{kind.capitalize()} by state.", labels=["state"]
        )
        for state, count in counts.items():
            family.add_metric([state], count)
        families.append(family)
    return families, nodes


def _queues(nodes: list[str]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "controlplane_queue_depth", "Messages waiting in each broker queue.", labels=["queue"]
    )
    names = [REPORTER_QUEUE, CLAIM_QUEUE, HEARTBEAT_QUEUE, *map(node_queue, nodes)]
    with broker_client(services().settings.broker_url).pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(name)
        depths = pipe.execute()
    for name, depth in zip(names, depths, strict=True):
        family.add_metric([name], int(depth))
    return family
