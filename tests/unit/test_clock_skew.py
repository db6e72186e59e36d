"""A node's clock cannot freeze a record: observation times more than the allowed skew ahead of
the reporter's clock are taken as now, so a true report soon after still moves the record."""

from __future__ import annotations

import logging
import time

import pytest

from controlplane.core.lifecycle import MAX_CLOCK_SKEW_NS, State, accepts_report, clamp_observed
from controlplane.core.messages import ContainerReport, NodePicture
from controlplane.reporter.tasks import on_reporters_clock, picture_on_reporters_clock

HOUR_NS = 3600 * 1_000_000_000


def report(observed_ns: int) -> ContainerReport:
    return ContainerReport(
        container_uuid="c", state=State.STOPPED.value, observed_ns=observed_ns, node_uuid="n"
    )


def test_a_time_within_the_skew_is_kept_and_one_beyond_is_clamped() -> None:
    now = 1_000 * HOUR_NS
    assert clamp_observed(now + MAX_CLOCK_SKEW_NS, now) == now + MAX_CLOCK_SKEW_NS
    assert clamp_observed(now - HOUR_NS, now) == now - HOUR_NS
    assert clamp_observed(now + HOUR_NS, now) == now + MAX_CLOCK_SKEW_NS


def test_a_report_from_an_hour_ahead_no_longer_outranks_the_next_true_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="controlplane.reporter.tasks"):
        future = on_reporters_clock(report(time.time_ns() + HOUR_NS))
    assert "stamped" in caplog.text and "in the future" in caplog.text
    # A true report a minute later is newer than the clamped one, so it may move the record.
    assert accepts_report(
        current=State.STOPPED,
        last_observed_ns=future.observed_ns,
        reported=State.RUNNING,
        observed_ns=time.time_ns() + 60 * 1_000_000_000,
    )


def test_a_report_on_time_is_left_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    honest = report(time.time_ns())
    with caplog.at_level(logging.WARNING, logger="controlplane.reporter.tasks"):
        assert on_reporters_clock(honest) is honest
    assert caplog.text == ""


def test_a_relist_and_each_report_in_it_are_clamped() -> None:
    ahead = time.time_ns() + HOUR_NS
    picture = NodePicture(node_uuid="n", observed_ns=ahead, containers=[report(ahead).to_dict()])
    clamped = picture_on_reporters_clock(picture)
    limit = time.time_ns() + MAX_CLOCK_SKEW_NS
    assert clamped.observed_ns <= limit
    assert all(listed.observed_ns <= limit for listed in clamped.reports())
