"""`GET /metrics` of an API process, scraped and parsed: requests counted by route rule (never
by path), the objects by state with every state present, and a broker that does not answer
leaving the database's figures served with `controlplane_scrape_error` 1. Also the bind
settings of the reporter's and the agent's metrics."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from controlplane.core.environment import SettingsError, env_bind
from controlplane.core.lifecycle import State
from tests.unit.helpers import Account


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def requests_of(scraped: dict, route: str, status: str) -> float:
    key = (
        "controlplane_http_requests_total",
        (("method", "GET"), ("route", route), ("status", status)),
    )
    return scraped.get(key, 0.0)


def test_requests_are_counted_by_route_rule_and_status(client: FlaskClient) -> None:
    before = scrape(client)
    for uuid in ("a" * 8, "b" * 8, "c" * 8):
        client.get(f"/api/v1/container/{uuid}/")  # no credentials: 401
    client.get("/no/such/path/at/all")
    after = scrape(client)
    rule = "/api/v1/container/<uuid>/"
    assert requests_of(after, rule, "401") - requests_of(before, rule, "401") == 3
    assert requests_of(after, "unmatched", "404") - requests_of(before, "unmatched", "404") == 1
    assert not any("aaaaaaaa" in str(labels) for _, labels in after)
    timed = (
        "controlplane_http_request_duration_seconds_count",
        (("method", "GET"), ("route", rule)),
    )
    assert after[timed] >= 3


def test_objects_are_counted_by_state_every_state_present(
    client: FlaskClient, alice: Account, container: str
) -> None:
    scraped = scrape(client)
    containers = {
        dict(labels)["state"]: value
        for (name, labels), value in scraped.items()
        if name == "controlplane_containers"
    }
    assert set(containers) == {state.value for state in State}
    assert containers["Init"] >= 1
    assert ("controlplane_nodes", (("state", "Deployed"),)) in scraped
    assert ("controlplane_actions", (("state", "Success"),)) in scraped


def test_a_broker_that_does_not_answer_leaves_the_rest_served(client: FlaskClient) -> None:
    scraped = scrape(client)  # the unit tests' broker URL is a closed port
    assert scraped[("controlplane_scrape_error", ())] == 1
    assert not any(name == "controlplane_queue_depth" for name, _ in scraped)
    assert any(name == "controlplane_containers" for name, _ in scraped)


@pytest.mark.parametrize(
    ("raw", "bind"),
    [("127.0.0.1:9101", ("127.0.0.1", 9101)), ("[::1]:9102", ("::1", 9102)), ("", None)],
)
def test_a_metrics_bind_is_host_and_port(raw: str, bind: tuple[str, int] | None) -> None:
    assert env_bind({"X": raw}, "X") == bind


@pytest.mark.parametrize("raw", ["9101", "host:", ":9101", "host:99999", "host:http"])
def test_a_malformed_metrics_bind_is_refused_by_name(raw: str) -> None:
    with pytest.raises(SettingsError, match="^X must be HOST:PORT"):
        env_bind({"X": raw}, "X")
