"""Node records (controlplane/db/nodes.py): the loads placement reads, node leases, and the
refusal of actions on a node whose lease ran out."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, inspect, select, update
from sqlalchemy.orm import Session

from controlplane.core.errors import NodeUnreachableError
from controlplane.core.lifecycle import Action, State
from controlplane.core.messages import NodeReport
from controlplane.core.scheduler import choose_node
from controlplane.db import containers, nodes
from controlplane.db.engine import utcnow
from controlplane.db.models import ActionRecord, Node
from tests.unit.helpers import REQUEST, Account, add_container, apply, query_plans, state_of

# --- placement -------------------------------------------------------------------------------


def test_node_loads_count_only_containers_that_are_not_terminated(
    session: Session, account: Account, register_node: Callable[..., str]
) -> None:
    busy = register_node("00000000-0000-4000-8000-000000000001", name="busy")
    idle = register_node("00000000-0000-4000-8000-000000000002", name="idle")
    live = [add_container(session, owner_id=account.user_id, node_uuid=busy) for _ in range(2)]
    gone = add_container(session, owner_id=account.user_id, node_uuid=busy)
    apply(session, gone, State.TERMINATED, 1_000, busy)
    apply(session, live[0], State.RUNNING, 1_000, busy)
    loads = {load.uuid: load.containers for load in nodes.node_loads(session)}
    assert loads == {busy: 2, idle: 0}


def test_node_loads_are_empty_without_nodes(session: Session) -> None:
    assert nodes.node_loads(session) == []


def test_the_scheduler_places_on_the_emptiest_registered_node(
    session: Session, account: Account, register_node: Callable[..., str]
) -> None:
    first = register_node("00000000-0000-4000-8000-000000000001")
    second = register_node("00000000-0000-4000-8000-000000000002")
    add_container(session, owner_id=account.user_id, node_uuid=first)
    assert choose_node(nodes.node_loads(session)).uuid == second


def test_node_loads_carry_the_reported_tags_and_state(
    session: Session, register_node: Callable[..., str]
) -> None:
    node = register_node(tags=["ssd", "eu"])
    (loaded,) = nodes.node_loads(session)
    assert (loaded.uuid, loaded.state, loaded.tags) == (node, "Deployed", frozenset({"ssd", "eu"}))


# --- node leases -----------------------------------------------------------------------------


def seen_at(session: Session, node_uuid: str, when: datetime) -> None:
    session.execute(update(Node).where(Node.uuid == node_uuid).values(last_seen=when))
    session.commit()


def node_state(session: Session, node_uuid: str) -> str:
    return str(session.scalar(select(Node.state).where(Node.uuid == node_uuid)))


def test_a_node_silent_past_the_cutoff_becomes_unreachable_once(
    session: Session, register_node: Callable[..., str]
) -> None:
    silent = register_node()
    fresh = register_node()
    seen_at(session, silent, utcnow() - timedelta(seconds=60))
    cutoff = utcnow() - timedelta(seconds=30)
    moved = nodes.expire_node_leases(session, cutoff=cutoff)
    assert [node.uuid for node in moved] == [silent]
    assert (node_state(session, silent), node_state(session, fresh)) == ("Unreachable", "Deployed")
    # A second sweeper (another reporter) finds nothing left to move, so announces nothing.
    assert nodes.expire_node_leases(session, cutoff=cutoff) == []


def test_a_heartbeat_brings_an_unreachable_node_back_deployed(
    session: Session, register_node: Callable[..., str]
) -> None:
    node = register_node()
    seen_at(session, node, utcnow() - timedelta(seconds=60))
    nodes.expire_node_leases(session, cutoff=utcnow())
    register_node(node)
    session.expire_all()
    assert node_state(session, node) == "Deployed"


def beat(node_uuid: str, observed_ns: int, *, cpu: int = 2) -> NodeReport:
    return NodeReport(
        node_uuid=node_uuid,
        docker_version="27.0.0",
        cpu=cpu,
        memory_mb=2048,
        observed_ns=observed_ns,
    )


@pytest.mark.both_backends
def test_a_batch_of_heartbeats_refreshes_every_enrolled_node_once_newest_first(
    session: Session, register_node: Callable[..., str]
) -> None:
    deployed, unreachable = register_node(), register_node()
    seen_at(session, unreachable, utcnow() - timedelta(seconds=60))
    nodes.expire_node_leases(session, cutoff=utcnow() - timedelta(seconds=30))
    stranger = str(uuid.uuid4())
    now = time.time_ns()
    applied = nodes.apply_node_reports(
        session,
        [
            beat(deployed, now + 2, cpu=8),
            beat(deployed, now + 1, cpu=4),  # older, in the same batch: the newer one wins
            beat(unreachable, now),
            beat(stranger, now),  # never enrolled: left out
        ],
    )
    assert sorted((node.uuid, previous) for node, previous in applied) == sorted(
        [(deployed, "Deployed"), (unreachable, "Unreachable")]
    )
    session.expire_all()
    assert node_state(session, unreachable) == "Deployed"
    refreshed = session.scalar(select(Node).where(Node.uuid == deployed))
    assert refreshed is not None
    assert (refreshed.cpu, refreshed.observed_ns) == (8, now + 2)
    assert nodes.apply_node_reports(session, []) == []


def test_an_unchanged_heartbeat_writes_only_when_the_node_was_seen(
    session: Session, register_node: Callable[..., str]
) -> None:
    node = register_node()
    session.expire_all()
    before = session.scalar(select(Node).where(Node.uuid == node))
    assert before is not None
    written: list[str] = []

    @event.listens_for(session, "before_flush")
    def record(flushing: Session, *_: object) -> None:
        for instance in flushing.dirty:
            written.extend(
                name
                for name in ("state", "docker_version", "cpu", "memory_mb", "disk_gb", "tags",
                             "observed_ns", "last_seen")
                if inspect(instance).attrs[name].history.has_changes()
            )  # fmt: skip

    nodes.apply_node_reports(session, [beat(node, time.time_ns())])
    assert sorted(written) == ["last_seen", "observed_ns"]


def test_an_action_on_a_container_of_an_unreachable_node_is_refused_and_changes_nothing(
    session: Session, account: Account, node: str
) -> None:
    container = add_container(session, owner_id=account.user_id, node_uuid=node)
    nodes.expire_node_leases(session, cutoff=utcnow() + timedelta(seconds=1))
    with pytest.raises(NodeUnreachableError):
        containers.begin_action(
            session, owner_id=account.user_id, uuid=container, action=Action.START, request=REQUEST
        )
    assert state_of(session, container) is State.INIT
    assert session.scalar(select(func.count()).select_from(ActionRecord)) == 1  # the create


# --- query plans at scale --------------------------------------------------------------------


def test_placement_counts_only_live_containers_from_their_partial_index(
    session: Session, node: str
) -> None:
    node_id = nodes.get_node(session, uuid=node).id
    plans = query_plans(session, lambda: nodes.node_loads(session))
    plans += query_plans(session, lambda: nodes.count_live_containers(session, node_id=node_id))
    assert len(plans) == 2 and all("ix_containers_live_node" in plan for plan in plans), plans
