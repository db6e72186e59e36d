"""Two API processes and two reporters on one database and one broker, as an operator scales
the control plane out: requests racing through different API processes on one container have
exactly one winner, a reporter killed mid-burst loses no report (the other goes on applying them,
and what the dead one held comes back to the queue), and events reach the sockets of every API
process, whichever process made the change.

On the fault plane (tests/faults/conftest.py), since a reporter is killed; scripts/test.sh runs
the fault suite on SQLite and again on PostgreSQL, where the conditional updates, claims and
sweepers of the two reporters really run at once.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator

import docker
import pytest
import requests

from controlplane.core.messages import CLAIM_QUEUE, REPORTER_QUEUE, TASK_REPORT_CONTAINER
from tests.support.api import ApiClient
from tests.support.broker import redeliver_unacked, wait_broker_idle
from tests.support.containers import SERVER, action_of, running
from tests.support.invariants import wait_converged
from tests.support.plane import Plane
from tests.support.redis_server import RedisServer
from tests.support.streams import connect, is_about, read_until
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

RACERS = 8  # concurrent requests per race, half through each API process


@pytest.fixture(scope="module")
def second_api(fault_plane: Plane) -> Iterator[str]:
    """The base URL of a second API process of the fault plane."""
    base_url = fault_plane.start_api("api-2")
    yield base_url
    fault_plane.stop("api-2")


@pytest.fixture(scope="module")
def second_reporter(fault_plane: Plane) -> Iterator[str]:
    """The name of a second reporter of the fault plane, among `fault_plane.services`."""
    fault_plane.start_reporter("reporter-2")
    yield "reporter-2"
    if "reporter-2" in fault_plane.services:
        fault_plane.stop("reporter-2")


@pytest.fixture
def apis(fault_plane: Plane, second_api: str) -> list[ApiClient]:
    """The same user, once through each API process."""
    return [fault_plane.client("alice"), fault_plane.client("alice", second_api)]


def race(apis: list[ApiClient], method: str, paths: list[str]) -> Counter[int]:
    """Send `method` on each of `paths` at once, spread over the API processes, `RACERS` times
    in all; how many answers had each status."""
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []

    def send(n: int) -> None:
        api = apis[n % len(apis)]
        path = paths[n % len(paths)]
        barrier.wait()
        statuses.append(api.request(method, path).status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(statuses)


def test_one_action_raced_through_two_api_processes_is_accepted_once(
    apis: list[ApiClient], fault_plane: Plane, docker_client: docker.DockerClient
) -> None:
    created = apis[0].create(name="raced", run_command=SERVER)
    base = f"/api/v1/container/{created['uuid']}/"
    assert race(apis, "POST", [f"{base}start/"]) == {202: 1, 409: RACERS - 1}
    apis[1].wait_state(created["uuid"], "Running")
    assert race(apis, "POST", [f"{base}stop/"]) == {202: 1, 409: RACERS - 1}
    apis[0].wait_state(created["uuid"], "Stopped")
    assert race(apis, "DELETE", [base]) == {202: 1, 409: RACERS - 1}
    apis[1].wait_state(created["uuid"], "Terminated")
    actions = apis[0].request("GET", "/api/v1/action/", params={"object": base}).json()
    assert [a["action"] for a in actions["objects"]] == [
        "Container Terminate",
        "Container Stop",
        "Container Start",
        "Container Create",
    ]
    wait_converged(fault_plane, apis[:1], docker_client)


def test_different_actions_raced_on_one_container_leave_one_winner(
    apis: list[ApiClient], fault_plane: Plane, docker_client: docker.DockerClient
) -> None:
    uuid = running(apis[0], name="contested", run_command=SERVER)["uuid"]
    base = f"/api/v1/container/{uuid}/"
    answers = race(apis, "POST", [f"{base}stop/", f"{base}redeploy/"])
    assert answers == {202: 1, 409: RACERS - 1}
    wait_converged(fault_plane, apis[:1], docker_client)


def test_a_reporter_killed_mid_burst_loses_no_report(
    fault_plane: Plane,
    apis: list[ApiClient],
    second_reporter: str,
    broker: RedisServer,
    docker_client: docker.DockerClient,
) -> None:
    created = [apis[n % 2].create(name=f"burst-{n}", run_command=SERVER) for n in range(12)]
    accepted = [action_of(apis[n % 2].act(c["uuid"], "start")) for n, c in enumerate(created)]
    reporter = fault_plane.services[second_reporter]
    # Killed once it has taken some of the burst's reports, while the rest still arrive.
    wait_for(lambda: f"{TASK_REPORT_CONTAINER}[" in reporter.log_path.read_text(errors="replace"))
    reporter.process.send_signal(signal.SIGKILL)
    reporter.process.wait()
    fault_plane.stop(second_reporter)
    # What the killed reporter had taken is unacknowledged, and the broker gives it back only
    # after its visibility timeout (an hour): meanwhile the other reporter applies the rest,
    # and the node's relist settles what was lost (the stuck-operation repair).
    wait_converged(fault_plane, apis[:1], docker_client, timeout=90)
    outcome = [apis[0].action(f"/api/v1/action/{action}/")["state"] for action in accepted]
    assert outcome == ["Success"] * len(accepted)
    # An hour later the lost deliveries come back (the test does what kombu then does): late
    # copies of what was settled, they change nothing.
    for queue in (REPORTER_QUEUE, CLAIM_QUEUE):
        redeliver_unacked(broker.client(), queue)
    wait_broker_idle(broker.client(), fault_plane)
    wait_converged(fault_plane, apis[:1], docker_client)
    for container, action in zip(created, accepted, strict=True):
        assert apis[0].action(f"/api/v1/action/{action}/")["state"] == "Success"
        assert apis[1].container(container["uuid"])["state"] == "Running"


def test_events_reach_the_sockets_of_every_api_process(
    fault_plane: Plane, apis: list[ApiClient], second_api: str
) -> None:
    uuid = apis[0].create(name="watched", run_command=SERVER)["uuid"]
    with (
        connect(fault_plane, "/v1/events") as first,
        connect(fault_plane, "/v1/events", base_url=second_api) as second,
    ):
        action = action_of(apis[1].act(uuid, "start"))
        for socket in (first, second):
            seen = read_until(socket, is_about(uuid, "container", "Running"))
            states = [
                e["state"] for e in seen if e["type"] == "container" and uuid in e["resource_uri"]
            ]
            assert states == ["Starting", "Running"]
            read_until(socket, is_about(action, "action", "Success"))


def test_a_dead_api_process_leaves_the_other_serving(
    fault_plane: Plane, apis: list[ApiClient]
) -> None:
    """What a load balancer in front of both relies on: one API process gone changes nothing
    for requests that reach the other. Its gunicorn worker, orphaned by the SIGKILL, sees its
    parent gone within a second or so (gunicorn's own check) and exits too."""
    api = fault_plane.services["api-2"]
    api.process.send_signal(signal.SIGKILL)
    api.process.wait()
    try:
        wait_for(lambda: refused(apis[1]), timeout=30)
        running(apis[0], name="survivor", run_command=SERVER)
    finally:
        api.restart()
    wait_for(lambda: not refused(apis[1]), timeout=60)


def refused(api: ApiClient) -> bool:
    try:
        api.request("GET", "/api/v1/container/")
    except requests.ConnectionError:
        return True
    return False
