"""Events derived from state writes: what a report, a registration or an action tells clients."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from controlplane import events
from controlplane.core.lifecycle import Action, State
from controlplane.core.messages import ContainerReport, Event, NodeReport
from controlplane.db import containers, enrollment, nodes, observations
from controlplane.db.engine import new_uuid
from tests.unit.helpers import REQUEST, Account, add_container


def report(session: Session, uuid: str, state: State, node: str, **extra: object) -> list[Event]:
    message = ContainerReport.from_dict(
        {
            "container_uuid": uuid,
            "state": state.value,
            "observed_ns": time.time_ns(),
            "node_uuid": node,
            **extra,
        }
    )
    return events.report_events(observations.apply_container_report(session, message))


def summary(found: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.type, e.action, e.state) for e in found]


def test_a_report_that_finishes_an_action_gives_the_container_then_the_action_event(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    container, opened, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.START, request=REQUEST
    )
    found = report(session, uuid, State.RUNNING, node, action_uuid=opened.uuid)
    assert summary(found) == [("container", "update", "Running"), ("action", "update", "Success")]
    assert found[0].object_uuid == uuid and found[1].object_uuid == opened.uuid
    assert found[0].parents == [["node", node]] and found[1].parents == [["container", uuid]]
    assert {e.owner_id for e in found} == {account.user_id}
    assert found[0].uuid != found[1].uuid
    assert found[0].datetime.endswith("Z")


def test_a_redelivered_report_gives_no_events(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    _, opened, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.START, request=REQUEST
    )
    message = ContainerReport(
        container_uuid=uuid,
        state=State.RUNNING.value,
        observed_ns=time.time_ns(),
        node_uuid=node,
        action_uuid=opened.uuid,
    )
    assert len(events.report_events(observations.apply_container_report(session, message))) == 2
    assert events.report_events(observations.apply_container_report(session, message)) == []


def test_a_failed_action_is_an_action_update_in_state_failed(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    _, opened, _ = containers.begin_action(
        session, owner_id=account.user_id, uuid=uuid, action=Action.START, request=REQUEST
    )
    found = report(session, uuid, State.INIT, node, action_uuid=opened.uuid, error="no image")
    assert summary(found) == [("container", "update", "Init"), ("action", "update", "Failed")]


def test_termination_is_the_containers_delete_event(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    assert summary(report(session, uuid, State.TERMINATED, node)) == [
        ("container", "delete", "Terminated")
    ]


def test_a_report_about_an_unknown_container_gives_no_events(session: Session, node: str) -> None:
    assert report(session, new_uuid(), State.RUNNING, node) == []


def test_a_node_report_says_whether_it_is_the_nodes_first(session: Session) -> None:
    message = NodeReport(
        node_uuid=enrollment.enroll(session, "n").uuid,
        docker_version="27",
        cpu=1,
        memory_mb=1,
        observed_ns=time.time_ns(),
    )
    applied = nodes.apply_node_report(session, message)
    assert applied is not None
    node, previous = applied
    assert previous == "Deploying"
    assert nodes.apply_node_report(session, message) == (node, "Deployed")
    event = events.node_event(node, events.UPDATE)
    assert (event.type, event.state, event.owner_id, event.parents) == (
        "node",
        "Deployed",
        None,
        [],
    )


def test_an_event_round_trips_through_its_wire_dict() -> None:
    event = Event(
        type="container",
        action="update",
        uuid="e",
        object_uuid="c",
        state="Running",
        datetime="2026-01-01T00:00:00Z",
        owner_id=3,
        parents=[["node", "n"]],
    )
    assert Event.from_dict({**event.to_dict(), "added_later": 1}) == event
