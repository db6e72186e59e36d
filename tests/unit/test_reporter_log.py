"""The reporter's log says when a node registers or comes back, not at every heartbeat."""

from __future__ import annotations

import logging

import pytest

from controlplane.core.lifecycle import NodeState
from controlplane.core.messages import NodeReport
from controlplane.reporter.heartbeats import log_node_report

REPORT = NodeReport(
    node_uuid="4b1c2c5e-0000-4000-8000-000000000001",
    docker_version="20.10.24",
    cpu=2,
    memory_mb=1024,
    disk_gb=10,
    observed_ns=1,
)
DEPLOYED = NodeState.DEPLOYED.value


def info_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]


def test_a_nodes_first_report_is_logged_as_its_registration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="controlplane.reporter.heartbeats"):
        log_node_report("node-1", REPORT, previous=NodeState.DEPLOYING.value, state=DEPLOYED)
    assert info_lines(caplog) == [f"node {REPORT.node_uuid} (node-1) registered, Docker 20.10.24"]


def test_a_node_back_from_unreachable_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="controlplane.reporter.heartbeats"):
        log_node_report("node-1", REPORT, previous=NodeState.UNREACHABLE.value, state=DEPLOYED)
    assert info_lines(caplog) == [
        f"node {REPORT.node_uuid} (node-1) is Deployed again (was Unreachable)"
    ]


def test_a_plain_heartbeat_logs_nothing_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="controlplane.reporter.heartbeats"):
        log_node_report("node-1", REPORT, previous=DEPLOYED, state=DEPLOYED)
    assert info_lines(caplog) == []
    assert [record.levelno for record in caplog.records] == [logging.DEBUG]
