"""Node credentials in the database: a node exists only once enrolled, its credential rotates and
is revoked there, and a node's report changes only that node's own containers and Actions."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from controlplane.core.errors import InvalidInputError, NodeNotFoundError
from controlplane.core.lifecycle import Action, State
from controlplane.core.messages import NodeReport
from controlplane.core.signing import node_key
from controlplane.db import enrollment, nodes
from controlplane.db.engine import Database
from controlplane.keyring import Keyring
from tests.unit.helpers import Account, accept, action, create, state_of


def heartbeat(node_uuid: str) -> NodeReport:
    return NodeReport(
        node_uuid=node_uuid, docker_version="27", cpu=1, memory_mb=1, observed_ns=time.time_ns()
    )


def test_an_enrolled_node_is_deploying_until_its_first_report(session: Session) -> None:
    node = enrollment.enroll(session, "web-1")
    assert (node.state, node.key_generation, node.revoked) == ("Deploying", 1, False)
    assert nodes.apply_node_report(session, heartbeat(node.uuid)) == (node, "Deploying")
    assert node.state == "Deployed"


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 64, "ünïcode"])
def test_a_node_name_must_be_host_like(session: Session, name: str) -> None:
    with pytest.raises(InvalidInputError, match="name"):
        enrollment.enroll(session, name)


def test_two_nodes_never_share_a_name(session: Session) -> None:
    enrollment.enroll(session, "web-1")
    with pytest.raises(InvalidInputError, match="node rotate web-1"):
        enrollment.enroll(session, "web-1")


def test_a_report_never_creates_a_node(session: Session) -> None:
    assert (
        nodes.apply_node_report(session, heartbeat("4b1c2c5e-0000-4000-8000-00000000000f")) is None
    )
    assert nodes.list_nodes(session, limit=10, offset=0)[1] == 0


def test_a_rotation_is_a_new_key_and_a_revocation_none(session: Session) -> None:
    node = enrollment.enroll(session, "web-1")
    assert enrollment.find_node(session, node.uuid) is enrollment.find_node(session, "web-1")
    enrollment.rotate(session, node)
    assert enrollment.key_generation(session, node_uuid=node.uuid) == 2
    enrollment.revoke(session, node)
    assert enrollment.key_generation(session, node_uuid=node.uuid) is None
    assert node.state == "Unreachable"
    assert nodes.apply_node_report(session, heartbeat(node.uuid)) is None
    enrollment.rotate(session, node)  # enrolled again
    assert enrollment.key_generation(session, node_uuid=node.uuid) == 3
    with pytest.raises(NodeNotFoundError):
        enrollment.find_node(session, "web-2")


def test_the_keyring_derives_the_current_generations_key(database: Database) -> None:
    with database.session() as session:
        node = enrollment.enroll(session, "web-1")
        uuid = node.uuid
    keyring = Keyring(database, b"s" * 32, ttl=0)
    assert keyring.key(uuid) == node_key(b"s" * 32, uuid, 1)
    with database.session() as session:
        token = keyring.token(enrollment.rotate(session, enrollment.find_node(session, uuid)))
    assert keyring.key(uuid) == token.key == node_key(b"s" * 32, uuid, 2)
    assert keyring.key("0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b") is None


def test_the_keyring_reads_many_nodes_keys_at_once_and_keeps_them_for_its_ttl(
    database: Database,
) -> None:
    with database.session() as session:
        enrolled = [enrollment.enroll(session, f"web-{n}").uuid for n in range(3)]
        revoked = enrollment.enroll(session, "gone")
        enrollment.revoke(session, revoked)
        revoked_uuid = revoked.uuid
    stranger = "0b6e3f2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
    keyring = Keyring(database, b"s" * 32, ttl=60)
    keyring.refresh({*enrolled, revoked_uuid, stranger})
    with database.session() as session:  # rotated after the read: the cache still says gen 1
        enrollment.rotate(session, enrollment.find_node(session, enrolled[0]))
    assert [keyring.key(uuid) for uuid in enrolled] == [
        node_key(b"s" * 32, uuid, 1) for uuid in enrolled
    ]
    assert keyring.key(revoked_uuid) is None and keyring.key(stranger) is None
    keyring.ttl = 0  # so the refresh reads again, and the key then comes from what it read
    keyring.refresh(set(enrolled))
    keyring.ttl = 60
    assert keyring.key(enrolled[0]) == node_key(b"s" * 32, enrolled[0], 2)


def test_a_report_about_another_nodes_container_changes_nothing(
    client: FlaskClient,
    account: Account,
    node: str,
    session: Session,
    register_node: Callable[..., str],
    report: Callable[..., bool],
) -> None:
    """Even with a seal of its own, a node observes only the containers placed on it: neither
    their state nor their Actions move on another node's word."""
    container = create(client, account)["uuid"]  # on `node`, the only one yet
    other = register_node()
    start = accept(session, account, container, Action.START)
    assert not report(container, "Running", node_uuid=other, action_uuid=start)
    assert (state_of(session, container), action(session, start).state) == (
        State.STARTING,
        "Pending",
    )
    session.rollback()  # the reporter's session writes next
    assert report(container, "Running", node_uuid=node, action_uuid=start)
    assert (state_of(session, container), action(session, start).state) == (
        State.RUNNING,
        "Success",
    )
