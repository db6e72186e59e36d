"""One action followed by its request id across processes: a start sent with an X-Request-Id to
an API that logs JSON lines (CONTROLPLANE_LOG_FORMAT=json) is found by that id in the API's
access line, in the reporter's claim line and in the agent's line that ran it (both text,
ending ` [request <id>]`)."""

from __future__ import annotations

import json
import secrets

import pytest

from tests.support.plane import Plane
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

# What Celery's worker prints itself (standard output, no log record) when SIGTERM stops it.
CELERY_STOPPING = "worker: Warm shutdown (MainProcess)"


def lines_of(plane: Plane, name: str) -> list[str]:
    return plane.services[name].log_path.read_text(errors="replace").splitlines()


def test_a_start_is_followed_by_its_request_id_from_the_api_into_the_agent(plane: Plane) -> None:
    base_url = plane.start_api("api-json", CONTROLPLANE_LOG_FORMAT="json")
    client = plane.client("alice", base_url)
    uuid = client.create(run_command="sleep 3600")["uuid"]
    request_id = f"follow-{secrets.token_hex(6)}"
    started = client.request(
        "POST", f"/api/v1/container/{uuid}/start/", headers={"X-Request-Id": request_id}
    )
    assert (started.status_code, started.headers["X-Request-Id"]) == (202, request_id)
    client.wait_state(uuid, "Running")

    ran = f"start of container {uuid}: Running [request {request_id}]"
    wait_for(lambda: any(line.endswith(ran) for line in lines_of(plane, "agent")), timeout=30)
    claimed = f"claimed by node {plane.node_uuid} [request {request_id}]"
    assert [line for line in lines_of(plane, "reporter") if line.endswith(claimed)]

    records = [json.loads(line) for line in lines_of(plane, "api-json") if line.strip()]
    [access] = [
        record for record in records if f"POST /api/v1/container/{uuid}/start/" in record["message"]
    ]
    assert (access["request_id"], access["logger"]) == (request_id, "gunicorn.access")
    assert client.act(uuid, "terminate").status_code == 202
    client.wait_state(uuid, "Terminated")


def test_a_reporter_that_logs_json_writes_nothing_else(plane: Plane) -> None:
    """Celery's banner (no log record) is left out, and Python's warnings (Celery's about
    running as root) are records like any other; only the line Celery's signal handler prints
    as it stops is not JSON."""
    reporter = plane.start_reporter("reporter-json", CONTROLPLANE_LOG_FORMAT="json")
    plane.stop("reporter-json")
    lines = [line for line in reporter.log_path.read_text().splitlines() if line.strip()]
    assert lines[-1] == CELERY_STOPPING
    records = [json.loads(line) for line in lines[:-1]]  # fails on any line that is not JSON
    assert any(record["message"].endswith(" ready.") for record in records)
    assert {"time", "level", "logger", "message", "request_id"} <= set(records[0])
