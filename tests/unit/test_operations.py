"""The container spec sent to a node: every definition field, with owner-scoped volumes."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.messages import ContainerSpec
from controlplane.core.validation import validate_create
from controlplane.db import containers, nodes
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import new_uuid
from controlplane.db.models import Container
from controlplane.operations import container_spec, docker_volume
from tests.unit.helpers import Account

REQUEST = RequestInfo(method="POST", path="/api/v1/container/", user_agent="", ip="", body="")

BODY: dict[str, Any] = {
    "image_name": "busybox",
    "name": "web",
    "run_command": "sleep 60",
    "memory": 64,
    "memory_swap": 128,
    "cpuset": "0",
    "hostname": "web1",
    "tty": True,
    "net": "host",
    "cap_add": ["NET_ADMIN"],
    "devices": ["/dev/zero"],
    "bindings": [
        {"container_path": "/data", "volume": "data"},
        {"container_path": "/srv", "host_path": "/srv/www", "rewritable": False},
    ],
    "autodestroy": "ALWAYS",
}


def stored(session: Session, account: Account, node: str) -> Container:
    fields_ = validate_create(BODY)
    uuid = new_uuid()
    fields_.update(uuid=uuid, unique_name=f"web-{uuid[:8]}")
    node_id = nodes.get_node(session, uuid=node).id
    containers.insert_container(
        session, owner_id=account.user_id, node_id=node_id, fields=fields_, request=REQUEST
    )
    session.expire_all()
    container = session.scalar(select(Container).where(Container.uuid == uuid))
    assert container is not None
    return container


def test_the_spec_carries_every_definition_field_as_stored(
    session: Session, account: Account, node: str
) -> None:
    container = stored(session, account, node)
    spec = container_spec(container)
    for spec_field in fields(ContainerSpec):
        if spec_field.name != "bindings":
            assert getattr(spec, spec_field.name) == getattr(container, spec_field.name)
    assert (spec.memory_swap, spec.net, spec.cap_add) == (128, "host", ["NET_ADMIN"])


def test_a_named_volume_becomes_the_owners_docker_volume(
    session: Session, account: Account, node: str
) -> None:
    spec = container_spec(stored(session, account, node))
    assert spec.bindings == [
        {
            "host_path": None,
            "container_path": "/data",
            "rewritable": True,
            "volume": docker_volume(account.user_id, "data"),
        },
        {"host_path": "/srv/www", "container_path": "/srv", "rewritable": False, "volume": None},
    ]


def test_two_owners_never_share_a_docker_volume() -> None:
    assert docker_volume(1, "data") != docker_volume(2, "data")
    assert docker_volume(1, "data") == "cp-u1-data"


def test_the_spec_round_trips_through_the_broker_form(
    session: Session, account: Account, node: str
) -> None:
    spec = container_spec(stored(session, account, node))
    assert ContainerSpec.from_dict(spec.to_dict()) == spec
