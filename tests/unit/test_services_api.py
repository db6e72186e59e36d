"""Services over HTTP through the Flask test client, with the reports a node would send applied
as the reporter applies them and the operations for the nodes recorded instead of sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from controlplane.core.lifecycle import State
from controlplane.db import nodes
from controlplane.db import services as service_records
from controlplane.db.engine import Database
from controlplane.db.models import Node, Service
from tests.unit.helpers import (
    SERVICES,
    Account,
    RecordingPublisher,
    SentOperations,
    assert_error,
    create_service,
    get_json,
    post,
)

pytestmark = pytest.mark.both_backends


def test_a_create_answers_201_with_an_init_service_and_its_action(
    client: FlaskClient, account: Account, node: str
) -> None:
    service = create_service(client, account, target_num_containers=2)
    assert service["state"] == "Init"
    assert service["name"] == service["unique_name"] == "web"
    assert service["image_name"] == "busybox:latest"
    assert service["target_num_containers"] == 2
    assert service["current_num_containers"] == 0
    assert service["containers"] == []
    assert service["deployment_strategy"] == "EMPTIEST_NODE"
    assert service["resource_uri"] == f"{SERVICES}{service['uuid']}/"
    assert get_json(client, service["resource_uri"], account) == service
    listed = get_json(client, SERVICES, account)
    assert [s["uuid"] for s in listed["objects"]] == [service["uuid"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "web"}, "image"),
        ({"image": "busybox", "colour": "red"}, "colour"),
        ({"image": "busybox", "target_num_containers": -1}, "target_num_containers"),
        ({"image": "busybox", "deployment_strategy": "RANDOM"}, "deployment_strategy"),
        ({"image": "busybox", "linked_to_service": [{"to_service": "nope"}]}, None),
        ({"image": "busybox", "roles": ["global"]}, "roles"),
        ({"image": "busybox", "memory": 1}, "memory"),
    ],
)
def test_a_bad_create_is_a_400_and_records_nothing(
    client: FlaskClient, account: Account, body: dict[str, Any], field: str | None
) -> None:
    data = assert_error(client.post(SERVICES, json=body, headers=account.headers), 400, field)
    assert "error" in data
    assert get_json(client, SERVICES, account)["meta"]["total_count"] == 0


def test_a_start_deploys_the_target_and_the_service_runs(
    client: FlaskClient,
    account: Account,
    node: str,
    sent: SentOperations,
    settle: Callable[[str], None],
) -> None:
    service = create_service(client, account, target_num_containers=3)
    response = client.post(f"{service['resource_uri']}start/", headers=account.headers)
    assert response.status_code == 202
    started = response.get_json()
    assert started["state"] == "Starting"
    assert started["current_num_containers"] == 3
    assert [op.action for _, op in sent.sent] == ["start"] * 3
    settle(service["uuid"])
    running = get_json(client, service["resource_uri"], account)
    assert running["state"] == "Running"
    assert running["running_num_containers"] == 3
    containers = [get_json(client, uri, account) for uri in running["containers"]]
    assert [c["unique_name"] for c in containers] == ["web-1", "web-2", "web-3"]
    assert {c["service"] for c in containers} == {service["resource_uri"]}
    action = get_json(client, response.headers["X-Tutum-Action-URI"], account)
    assert (action["action"], action["state"]) == ("Service Start", "Success")
    assert action["object"] == service["resource_uri"]


def test_each_step_announces_the_state_it_leaves_the_service_in(
    app: Flask, client: FlaskClient, account: Account, node: str, settle: Callable[[str], None]
) -> None:
    published = RecordingPublisher()
    app.extensions["controlplane"].operations.publisher = published
    service = create_service(client, account, target_num_containers=2)
    post(client, account, f"{service['resource_uri']}start/")
    settle(service["uuid"])
    post(client, account, f"{service['resource_uri']}scale/", target_num_containers=1)
    settle(service["uuid"])
    assert [e.state for e in published.published if e.type == "service"] == [
        "Init",
        "Starting",  # its two new containers Starting
        "Starting",  # one of them Running
        "Running",
        "Scaling",  # the second Terminating
        "Running",
    ]


def test_a_service_s_logs_are_read_from_its_containers_on_docker_on_a_deployed_node(
    client: FlaskClient,
    account: Account,
    node: str,
    register_node: Callable[..., str],
    database: Database,
    settle: Callable[[str], None],
) -> None:
    service = create_service(client, account, target_num_containers=3)
    post(client, account, f"{service['resource_uri']}start/")
    settle(service["uuid"])
    lost = register_node()
    with database.session() as session:
        service_id = session.scalar(select(Service.id).where(Service.uuid == service["uuid"]))
        assert service_id is not None
        running, never_made, on_lost_node = service_records.live_containers(session, service_id)
        never_made.state = State.INIT.value
        on_lost_node.node_id = nodes.node_id(session, uuid=lost)
        session.execute(update(Node).where(Node.uuid == lost).values(state="Unreachable"))
        session.commit()
        loggable = service_records.loggable_containers(session, service_id)
        assert [container.uuid for container in loggable] == [running.uuid]


def test_a_scale_down_terminates_the_highest_numbers_and_up_refills_them(
    client: FlaskClient, account: Account, node: str, settle: Callable[[str], None]
) -> None:
    service = create_service(client, account, target_num_containers=3)
    post(client, account, f"{service['resource_uri']}start/")
    settle(service["uuid"])
    scaled = post(client, account, f"{service['resource_uri']}scale/", target_num_containers=1)
    assert scaled["state"] == "Scaling"
    settle(service["uuid"])
    after = get_json(client, service["resource_uri"], account)
    assert (after["state"], after["current_num_containers"]) == ("Running", 1)
    assert get_json(client, after["containers"][0], account)["unique_name"] == "web-1"
    post(client, account, f"{service['resource_uri']}scale/", target_num_containers=2)
    settle(service["uuid"])
    again = get_json(client, service["resource_uri"], account)
    names = [get_json(client, uri, account)["unique_name"] for uri in again["containers"]]
    assert (again["state"], names) == ("Running", ["web-1", "web-2"])


def test_a_patch_changes_the_definition_for_the_next_redeploy(
    client: FlaskClient,
    account: Account,
    node: str,
    sent: SentOperations,
    settle: Callable[[str], None],
) -> None:
    service = create_service(client, account, target_num_containers=2)
    post(client, account, f"{service['resource_uri']}start/")
    settle(service["uuid"])
    response = client.patch(
        service["resource_uri"], json={"run_command": "sleep 9"}, headers=account.headers
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["synchronized"] is False
    assert response.get_json()["run_command"] == "sleep 9"
    assert sent.sent == []
    redeploying = post(client, account, f"{service['resource_uri']}redeploy/")
    assert redeploying["state"] == "Redeploying"
    first = sent.sent[0][1]
    assert [op.action for _, op in sent.sent] == ["redeploy"]
    assert first.spec is not None and first.spec["run_command"] == "sleep 9"
    settle(service["uuid"])
    done = get_json(client, service["resource_uri"], account)
    assert (done["state"], done["synchronized"]) == ("Running", True)


def test_an_action_the_state_does_not_allow_is_a_409(
    client: FlaskClient, account: Account, node: str
) -> None:
    service = create_service(client, account)
    response = client.post(f"{service['resource_uri']}stop/", headers=account.headers)
    data = assert_error(response, 409)
    assert "Init" in data["error"]


def test_another_user_s_service_is_a_404(
    client: FlaskClient, account: Account, make_account: Callable[[str], Account], node: str
) -> None:
    service = create_service(client, account)
    bob = make_account("bob")
    assert_error(client.get(service["resource_uri"], headers=bob.headers), 404)
    assert_error(client.post(f"{service['resource_uri']}start/", headers=bob.headers), 404)
    assert get_json(client, SERVICES, bob)["meta"]["total_count"] == 0


def test_two_users_each_have_their_own_web_1(
    client: FlaskClient,
    account: Account,
    make_account: Callable[[str], Account],
    node: str,
    settle: Callable[[str], None],
) -> None:
    bob = make_account("bob")
    for owner in (account, bob):
        service = create_service(client, owner)
        post(client, owner, f"{service['resource_uri']}start/")
        settle(service["uuid"])
        running = get_json(client, service["resource_uri"], owner)
        container = get_json(client, running["containers"][0], owner)
        assert container["unique_name"] == "web-1"


def test_a_second_live_service_of_one_name_gets_a_unique_name(
    client: FlaskClient, account: Account, node: str
) -> None:
    first = create_service(client, account)
    second = create_service(client, account)
    assert (first["unique_name"], second["unique_name"]) == ("web", "web-2")


def test_a_terminate_removes_every_container_and_ends_terminated(
    client: FlaskClient, account: Account, node: str, settle: Callable[[str], None]
) -> None:
    service = create_service(client, account, target_num_containers=2)
    post(client, account, f"{service['resource_uri']}start/")
    settle(service["uuid"])
    response = client.delete(service["resource_uri"], headers=account.headers)
    assert response.status_code == 202
    assert response.get_json()["state"] == "Terminating"
    settle(service["uuid"])
    gone = get_json(client, service["resource_uri"], account)
    assert (gone["state"], gone["current_num_containers"]) == ("Terminated", 0)
    assert gone["destroyed_datetime"] is not None


def test_a_container_list_filters_on_its_service(
    client: FlaskClient, account: Account, node: str, settle: Callable[[str], None]
) -> None:
    web = create_service(client, account, target_num_containers=2)
    db = create_service(client, account, name="db")
    for service in (web, db):
        post(client, account, f"{service['resource_uri']}start/")
        settle(service["uuid"])
    listed = get_json(client, f"/api/v1/container/?service={web['resource_uri']}", account)
    assert sorted(c["unique_name"] for c in listed["objects"]) == ["web-1", "web-2"]
    by_uuid = get_json(client, f"/api/v1/container/?service={db['uuid']}", account)
    assert [c["unique_name"] for c in by_uuid["objects"]] == ["db-1"]


def test_a_service_s_actions_are_listed_by_its_uri_newest_first(
    client: FlaskClient, account: Account, node: str, settle: Callable[[str], None]
) -> None:
    service = create_service(client, account)
    post(client, account, f"{service['resource_uri']}start/")
    settle(service["uuid"])
    listed = get_json(client, f"/api/v1/action/?object={service['resource_uri']}", account)
    assert [a["action"] for a in listed["objects"]] == ["Service Start", "Service Create"]
    assert {a["object"] for a in listed["objects"]} == {service["resource_uri"]}


def test_what_the_old_clis_send_for_a_service_run_is_accepted(
    client: FlaskClient, account: Account, node: str
) -> None:
    """`tutum run -p 8080:80 -e A=1` sends every option, unset ones as null, ports as strings."""
    service = create_service(
        client,
        account,
        cpu_shares=None,
        memory=None,
        privileged=False,
        target_num_containers=1,
        run_command="sleep 3600",
        entrypoint=None,
        container_ports=[
            {"protocol": "tcp", "inner_port": "80", "outer_port": "8080", "published": True}
        ],
        container_envvars=[{"key": "A", "value": "1"}],
        linked_to_service=[],
        autorestart=None,
        autodestroy=None,
        autoredeploy=False,
        roles=[],
        sequential_deployment=False,
        tags=[],
        bindings=[],
        deployment_strategy=None,
        net=None,
        pid=None,
    )
    assert service["container_ports"][0]["inner_port"] == 80
    assert service["container_ports"][0]["outer_port"] == 8080
    refused = client.post(
        SERVICES, json={"image": "busybox", "autoredeploy": True}, headers=account.headers
    )
    assert "not supported" in assert_error(refused, 400, "autoredeploy")["error"]


def test_the_sweep_steps_only_the_services_with_something_to_do(
    app: Flask,
    client: FlaskClient,
    account: Account,
    node: str,
    sent: SentOperations,
    report: Callable[..., bool],
    settle: Callable[[str], None],
) -> None:
    """A settled service that autoreplace watches is due at every sweep; planned in the sweep's
    read, it is left alone (no lock, no write, no event) until one of its containers is gone."""
    published = RecordingPublisher()
    app.extensions["controlplane"].operations.publisher = published
    service = create_service(client, account, target_num_containers=2, autoreplace="ALWAYS")
    post(client, account, f"{service['resource_uri']}start/")
    settle(service["uuid"])
    control = app.extensions["controlplane"].service_control
    published.published.clear()
    assert control.converge_due() == 0
    assert published.published == [] and sent.take() == []

    gone = get_json(
        client, get_json(client, service["resource_uri"], account)["containers"][0], account
    )
    assert report(gone["uuid"], "Terminated", node_uuid=node)  # removed behind our back
    assert control.converge_due() == 1
    assert [op.action for _, op in sent.take()] == ["start"]  # its replacement
