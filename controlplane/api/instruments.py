"""The API processes' own Prometheus metrics, kept by each gunicorn worker (and added up across
them, `controlplane.api.metrics`): what `metrics` times and what `websocket` counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import request
from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "controlplane_http_requests",
    "HTTP requests answered, by route, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "controlplane_http_request_duration_seconds",
    "Time to answer an HTTP request (websocket sessions are not counted), by route and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBSOCKETS = Gauge(
    "controlplane_websockets_open",
    "Websocket sessions open now, by stream.",
    ["stream"],
    multiprocess_mode="livesum",
)


@contextmanager
def websocket_open() -> Iterator[None]:
    """Count the websocket session being served as open while it lasts."""
    gauge = WEBSOCKETS.labels(request.endpoint or "unmatched")
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()
