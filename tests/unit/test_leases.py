"""Node leases: the pure rule, and the reporter's sweep that applies it and announces it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from controlplane.core import lease
from controlplane.db.engine import Database, utcnow
from controlplane.db.models import Node
from controlplane.reporter.sweeper import BEHIND, LeaseSweeper
from tests.unit.helpers import RecordingPublisher

NOW = datetime(2026, 1, 1, 12, 0, 0)


def test_the_cutoff_is_the_grace_period_before_now() -> None:
    assert lease.lease_cutoff(NOW, 15) == NOW - timedelta(seconds=15)


@pytest.mark.parametrize(("grace", "interval"), [(15, 3.0), (6, 1.2), (2, 1.0), (1, 1.0)])
def test_the_sweep_runs_five_times_per_grace_period_but_at_most_every_second(
    grace: int, interval: float
) -> None:
    assert lease.sweep_interval(grace) == interval


def last_seen_ago(database: Database, node_uuid: str, seconds: float) -> None:
    with database.session() as session:
        when = utcnow() - timedelta(seconds=seconds)
        session.execute(update(Node).where(Node.uuid == node_uuid).values(last_seen=when))
        session.commit()


def test_a_sweep_announces_each_node_it_declares_unreachable_once(
    database: Database, register_node: Callable[..., str]
) -> None:
    silent = register_node()
    register_node()  # heard from just now
    last_seen_ago(database, silent, 30)
    publisher = RecordingPublisher()
    sweeper = LeaseSweeper(database, publisher, grace=10)
    sweeper.sweep()
    sweeper.sweep()
    assert [(e.type, e.action, e.object_uuid, e.state) for e in publisher.published] == [
        ("node", "update", silent, "Unreachable")
    ]


def test_no_node_is_declared_silent_while_heartbeats_wait_for_the_reporters(
    database: Database, register_node: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    silent = register_node()
    last_seen_ago(database, silent, 30)
    publisher = RecordingPublisher()
    waiting = [BEHIND + 1]
    sweeper = LeaseSweeper(database, publisher, grace=10, backlog=lambda: waiting[0])
    with caplog.at_level(logging.WARNING, logger="controlplane.reporter.sweeper"):
        sweeper.sweep()
    assert publisher.published == []
    assert f"{BEHIND + 1} heartbeats wait to be applied" in caplog.text
    waiting[0] = BEHIND  # caught up (a batch's worth in flight is no backlog)
    sweeper.sweep()
    assert [e.object_uuid for e in publisher.published] == [silent]


def test_a_node_within_its_grace_period_stays_deployed(
    database: Database, register_node: Callable[..., str]
) -> None:
    node = register_node()
    last_seen_ago(database, node, 5)
    publisher = RecordingPublisher()
    LeaseSweeper(database, publisher, grace=10).sweep()
    assert publisher.published == []


def test_the_first_sweep_waits_out_a_grace_period_of_heartbeats_and_an_interval(
    database: Database,
) -> None:
    sweeper = LeaseSweeper(database, RecordingPublisher(), grace=10)
    assert (sweeper.first_delay, sweeper.interval) == (12.0, 2.0)
