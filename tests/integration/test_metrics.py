"""Prometheus metrics of the live processes, scraped and parsed: an API of two gunicorn workers
adds up what both did (a request counted once, whichever worker took it) and counts the
websockets open now; the reporter tells the messages it applied and their lag; the agent the
operations it ran."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.plane import Plane
from tests.support.streams import connect
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def open_events(metrics: str) -> float:
    return value(scrape(metrics), "controlplane_websockets_open", stream="events_stream_tutum")


@pytest.mark.usefixtures("tolerate_socket_leaks")
def test_two_workers_add_up_and_count_open_websockets(plane: Plane) -> None:
    base_url = plane.start_api("api-metrics", workers=2)
    try:
        metrics = f"{base_url}/metrics"
        route = {"route": "/api/v1/auth/", "method": "GET", "status": "200"}
        before = value(scrape(metrics), "controlplane_http_requests_total", **route)
        client = plane.client("alice", base_url)
        for _ in range(20):  # each on a connection of its own: both workers take some
            assert requests.get(
                f"{base_url}/api/v1/auth/", headers=client.session.headers, timeout=10
            ).ok
        # Whichever worker answers a scrape tells the sum of both: one worker's own count
        # would differ from scrape to scrape.
        scrapes = [scrape(metrics) for _ in range(6)]
        counted = {value(s, "controlplane_http_requests_total", **route) - before for s in scrapes}
        assert counted == {20}
        after = scrapes[-1]
        assert value(after, "controlplane_containers", state="Running") >= 0
        assert value(after, "controlplane_nodes", state="Deployed") >= 1
        assert value(after, "controlplane_scrape_error") == 0
        assert ("controlplane_queue_depth", (("queue", "controlplane"),)) in after

        with connect(plane, "/v1/events", base_url=base_url):
            wait_for(lambda: open_events(metrics) == 1, timeout=10)
        wait_for(lambda: open_events(metrics) == 0, timeout=10)
    finally:
        plane.stop("api-metrics")


def test_the_reporter_and_the_agent_tell_what_they_did(plane: Plane) -> None:
    client = plane.client("alice")
    created = client.create(name="metered", run_command="sleep 3600")
    assert client.act(created["uuid"], "start").status_code == 202
    client.wait_state(created["uuid"], "Running")

    agent = scrape(plane.metrics_urls["agent"])
    assert (
        value(agent, "controlplane_agent_operations_total", operation="start", outcome="succeeded")
        >= 1
    )
    assert value(agent, "controlplane_agent_operation_seconds_count", operation="start") >= 1

    reporter = scrape(plane.metrics_urls["reporter"])
    applied = value(
        reporter,
        "controlplane_reporter_messages_total",
        task="controlplane.report.container",
        outcome="applied",
    )
    assert applied >= 1
    assert (
        value(
            reporter,
            "controlplane_reporter_lag_seconds_count",
            task="controlplane.report.container",
        )
        >= 1
    )
