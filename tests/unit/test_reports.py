"""The agent's reports on the wire: an unasked observation is encoded without being sent, and a
picture carries the same encoding for every container in one message, sealed by the node (no
broker)."""

from __future__ import annotations

from typing import Any

from controlplane.core import signing
from controlplane.core.lifecycle import State
from controlplane.core.messages import REPORTER_QUEUE, TASK_REPORT_PICTURE, DockerContainer
from controlplane.core.signing import NodeToken
from workers.engine import NodeListing, Observation
from workers.reports import Reports

NODE_UUID = "6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01"
UUID = "0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
STOPPED = Observation(State.STOPPED, 42, exit_code=137, docker_id="d" * 64, reason="killed")


class Broker:
    """Stands in for the agent's Celery app: keeps what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []

    def send_task(self, name: str, *, kwargs: dict[str, Any], queue: str) -> None:
        self.sent.append((name, kwargs, queue))


TOKEN = NodeToken(node_uuid=NODE_UUID, key=b"k" * 32)


def reports(broker: Broker) -> Reports:
    return Reports(broker, token=TOKEN)  # type: ignore[arg-type]


def test_an_unasked_observation_is_encoded_and_nothing_is_sent() -> None:
    broker = Broker()
    encoded = reports(broker).encode(UUID, STOPPED)
    assert broker.sent == []
    assert {key: encoded[key] for key in ("container_uuid", "state", "observed_ns")} == {
        "container_uuid": UUID,
        "state": "Stopped",
        "observed_ns": 42,
    }
    assert (encoded["node_uuid"], encoded["action_uuid"]) == (NODE_UUID, None)
    assert (encoded["exit_code"], encoded["reason"]) == (137, "killed")


def test_a_picture_is_one_message_of_every_container_encoded() -> None:
    broker = Broker()
    sender = reports(broker)
    listed = DockerContainer(container_uuid=UUID, docker_id="d" * 64, created_ns=5, status="exited")
    sender.picture(NodeListing({UUID: STOPPED}, [listed]), observed_ns=7)
    [(name, kwargs, queue)] = broker.sent
    assert (name, queue) == (TASK_REPORT_PICTURE, REPORTER_QUEUE)
    body, sealed = signing.unseal(
        kwargs, f"{signing.FROM_NODE}:{TASK_REPORT_PICTURE}", TOKEN.key_for
    )
    assert sealed.node_uuid == NODE_UUID
    assert body == {
        "picture": {
            "node_uuid": NODE_UUID,
            "observed_ns": 7,
            "containers": [sender.encode(UUID, STOPPED)],
            "docker": [listed.to_dict()],
        }
    }
