"""Celery's own tools against the live plane (`celery -A controlplane.celery_cli ...`): no
worker obeys remote control unless its operator asked for it, since it comes unsealed from
anyone who reaches the broker; a reporter started with CONTROLPLANE_CELERY_REMOTE_CONTROL=1
answers `inspect ping` under a name of its own process; an agent never does."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.plane import Plane

pytestmark = pytest.mark.integration

CELERY = str(Path(sys.executable).parent / "celery")


def ping(plane: Plane) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CELERY, "-A", "controlplane.celery_cli", "inspect", "ping", "--timeout", "2"],
        env=plane.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_no_worker_obeys_remote_control_unless_asked(plane: Plane) -> None:
    unasked = ping(plane)  # the session's reporter and agent run with the defaults
    assert unasked.returncode != 0
    assert "No nodes replied" in unasked.stdout + unasked.stderr

    plane.start_reporter("reporter-inspected", CONTROLPLANE_CELERY_REMOTE_CONTROL="1")
    try:
        asked = ping(plane)
    finally:
        plane.stop("reporter-inspected")
    assert asked.returncode == 0, asked.stdout + asked.stderr
    [answered] = [line for line in asked.stdout.splitlines() if ": OK" in line]
    name = answered.split(":")[0].lstrip("-> ").strip()
    assert name.startswith("reporter-") and name.endswith(f"@{socket.gethostname()}")
    assert "agent-" not in asked.stdout
