"""Links between services on the session's node: one service reaches another by name over TCP
on its owner's network, with the link variables of the old API; and services' and stacks'
events.

On the session's node alone (no extra nodes in this module): a link is resolved by Docker's
embedded DNS, which needs a daemon that manages iptables, and the extra test daemons run with
`--iptables=false` (docs/api.md, links)."""

from __future__ import annotations

import pytest

from tests.support.api import ApiClient
from tests.support.locations import IMAGE
from tests.support.plane import Plane
from tests.support.services import (
    act,
    act_terminate,
    create_service,
    node_of,
    service,
    wait_service,
)
from tests.support.streams import connect, is_about, read_until
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_a_linked_service_reaches_another_by_name_over_tcp(
    alice: ApiClient,
) -> None:
    server = 'sh -c "mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 8080 -h /www"'
    db = create_service(
        alice,
        name="pongdb",
        run_command=server,
        container_ports=[{"protocol": "tcp", "inner_port": 8080, "published": False}],
        container_envvars=[{"key": "ROLE", "value": "db"}],
    )
    act(alice, db["uuid"], "start")
    wait_service(alice, db["uuid"], "Running", 1)
    client = (
        'sh -c "until wget -q -O - http://$DB_PORT_8080_TCP_ADDR:8080/; do sleep 0.3; done;'
        ' echo role=$DB_ENV_ROLE; exec sleep 3600"'
    )
    app = create_service(
        alice,
        name="pinger",
        run_command=client,
        linked_to_service=[{"to_service": db["resource_uri"], "name": "db"}],
    )
    assert app["linked_to_service"][0]["to_service"] == db["resource_uri"]
    act(alice, app["uuid"], "start")
    running = wait_service(alice, app["uuid"], "Running", 1)
    (container_uri,) = running["containers"]
    container = alice.request("GET", container_uri).json()
    variables = {v["key"]: v["value"] for v in container["container_envvars"]}
    assert variables["DB_PORT_8080_TCP_ADDR"] == "pongdb"
    assert container["node"] == node_of(alice, service(alice, db["uuid"])["containers"][0])
    logs = wait_for(
        lambda: (text := alice.logs(container["uuid"])) and "role=db" in text and text,
        timeout=30,
    )
    assert "pong" in logs
    for created in (app, db):
        act_terminate(alice, created["uuid"])
        wait_service(alice, created["uuid"], "Terminated")


def test_services_and_stacks_announce_their_states_on_the_events_stream(
    alice: ApiClient, plane: Plane
) -> None:
    with connect(plane, "/v1/events") as events:
        created = create_service(alice, name="announced")
        read_until(events, is_about(created["uuid"], "service", "Init"))
        act(alice, created["uuid"], "start")
        running = read_until(events, is_about(created["uuid"], "service", "Running"))[-1]
        assert running["resource_uri"] == created["resource_uri"]
        stack = alice.request(
            "POST",
            "/api/v1/stack/",
            json={"name": "told", "services": [{"name": "quiet", "image": IMAGE}]},
        ).json()
        read_until(events, is_about(stack["uuid"], "stack", "Not Running"))
        act_terminate(alice, created["uuid"])
        read_until(events, is_about(created["uuid"], "service", "Terminated"))
