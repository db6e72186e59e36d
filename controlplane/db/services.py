"""Service records: create, read, list, lock, and the snapshot the controller plans from.

A service's state is not a column: `states_of` reads its live containers' states and
`controlplane.core.servicestate.derive_state` gives the old API's state from them, so a list
filtered by state is filtered after that derivation (an owner holds at most a few hundred
services; the live containers are read through `ix_containers_service`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.core.errors import ServiceNotFoundError
from controlplane.core.lifecycle import NO_DOCKER_CONTAINER, State
from controlplane.core.servicestate import Goal, Operation, ServiceState, derive_state
from controlplane.db.engine import new_uuid, utcnow, uuid_prefix
from controlplane.db.models import LIVE, ActionRecord, Container, Node, Service, Stack
from controlplane.db.nodes import NODE_DEPLOYED


@dataclass(frozen=True)
class ServiceFilters:
    state: str | None = None
    name: str | None = None
    unique_name: str | None = None
    uuid_prefix: str | None = None
    stack_uuid: str | None = None


def unique_name_for(session: Session, *, owner_id: int, name: str) -> str:
    """`name`, or `name-2`, `name-3` ... : the first no live service of the owner holds."""
    taken = set(
        session.scalars(
            select(Service.unique_name).where(
                Service.owner_id == owner_id,
                Service.goal != Goal.TERMINATED.value,
                Service.unique_name.startswith(name, autoescape=True),
            )
        )
    )
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    return candidate


def add_service(
    session: Session, *, owner_id: int, values: dict[str, Any], stack: Stack | None = None
) -> Service:
    """A new service in Init (flushed, not committed) from `service_validation` values, with
    its links already resolved to service uuids."""
    service = Service(
        uuid=new_uuid(),
        owner_id=owner_id,
        stack_id=stack.id if stack else None,
        stack=stack,
        unique_name=unique_name_for(session, owner_id=owner_id, name=values["name"]),
        goal=Goal.INIT.value,
        operation=Operation.NONE.value,
        generation=1,
        created_at=utcnow(),
        **values,
    )
    session.add(service)
    session.flush()
    return service


def get_service(session: Session, *, owner_id: int, uuid: str, lock: bool = False) -> Service:
    """The owner's service; `lock` holds its row until the transaction ends (PostgreSQL; on
    SQLite every write transaction holds the whole database), so two controllers never plan
    the same service at once."""
    query = select(Service).where(Service.uuid == uuid, Service.owner_id == owner_id)
    if lock:
        query = query.with_for_update(of=Service)
    service = session.scalar(query)
    if service is None:
        raise ServiceNotFoundError(ident=uuid)
    return service


def lock_service(session: Session, service_id: int) -> Service | None:
    query = select(Service).where(Service.id == service_id).with_for_update(of=Service)
    return session.scalar(query.execution_options(populate_existing=True))


def live_containers(session: Session, service_id: int) -> list[Container]:
    """The service's containers that are not Terminated, by number."""
    query = (
        select(Container)
        .where(Container.service_id == service_id, LIVE)
        .order_by(Container.service_index)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(query))


def loggable_containers(session: Session, service_id: int) -> list[Container]:
    """The service's containers whose logs a node can read now, by number: those with a Docker
    container, on a Deployed node (the REST logs and the log stream of a service)."""
    return [
        container
        for container in live_containers(session, service_id)
        if State(container.state) not in NO_DOCKER_CONTAINER
        and container.node.state == NODE_DEPLOYED
    ]


def linked_services(session: Session, service: Service) -> list[tuple[str, Service]]:
    """The services `service` links to, each with the link's alias (its name by default);
    a link to a service that is gone (terminated since) is left out."""
    uuids = [link["to_service"] for link in service.linked_to_service]
    if not uuids:
        return []
    found = {
        target.uuid: target
        for target in session.scalars(
            select(Service).where(
                Service.uuid.in_(uuids),
                Service.owner_id == service.owner_id,
                Service.goal != Goal.TERMINATED.value,
            )
        )
    }
    return [
        (link["name"] or found[link["to_service"]].name, found[link["to_service"]])
        for link in service.linked_to_service
        if link["to_service"] in found
    ]


def nodes_holding(session: Session, service_ids: Iterable[int]) -> dict[int, set[str]]:
    """The uuids of the nodes that hold a live container of each service."""
    held: dict[int, set[str]] = defaultdict(set)
    ids = list(service_ids)
    if ids:
        rows = session.execute(
            select(Container.service_id, Node.uuid)
            .join(Node, Container.node_id == Node.id)
            .where(Container.service_id.in_(ids), LIVE)
        )
        for service_id, node_uuid in rows:
            held[service_id or 0].add(node_uuid)
    return held


@dataclass(frozen=True)
class LatestAction:
    """What the planner needs of a container's newest action: which one, and how it stands."""

    id: int
    state: str


def latest_actions(session: Session, container_ids: Iterable[int]) -> dict[int, LatestAction]:
    """Each container's newest action other than its create, by container id. Only the two
    columns the planner reads: every convergence asks it of all a service's containers, and a
    whole Action row brings its JSON columns and four joined relations."""
    ids = list(container_ids)
    if not ids:
        return {}
    newest = (
        select(func.max(ActionRecord.id))
        .where(ActionRecord.container_id.in_(ids), ActionRecord.operation != "create")
        .group_by(ActionRecord.container_id)
    )
    rows = session.execute(
        select(ActionRecord.container_id, ActionRecord.id, ActionRecord.state).where(
            ActionRecord.id.in_(newest)
        )
    )
    return {
        container_id: LatestAction(id, state) for container_id, id, state in rows if container_id
    }


@dataclass(frozen=True)
class Member:
    """A live container of a service, as a service's answer shows it."""

    uuid: str
    state: State
    public_dns: str


def members_of(session: Session, service_ids: Iterable[int]) -> dict[int, list[Member]]:
    """Each service's live containers, by number."""
    ids = list(service_ids)
    found: dict[int, list[Member]] = defaultdict(list)
    if ids:
        rows = session.execute(
            select(Container.service_id, Container.uuid, Container.state, Node.name)
            .join(Node, Container.node_id == Node.id)
            .where(Container.service_id.in_(ids), LIVE)
            .order_by(Container.service_id, Container.service_index)
        )
        for service_id, uuid, state, node_name in rows:
            found[service_id or 0].append(Member(uuid, State(state), node_name))
    return found


def state_of(service: Service, states: Iterable[State]) -> ServiceState:
    return derive_state(Goal(service.goal), Operation(service.operation), states)


def list_services(
    session: Session, *, owner_id: int, filters: ServiceFilters, limit: int, offset: int
) -> tuple[list[tuple[Service, list[Member]]], int]:
    """A page of the owner's services in creation order, each with its live containers'
    states; filtered by the derived state when asked."""
    query = select(Service).where(Service.owner_id == owner_id).order_by(Service.id)
    if filters.name is not None:
        query = query.where(Service.name == filters.name)
    if filters.unique_name is not None:
        query = query.where(Service.unique_name == filters.unique_name)
    if filters.uuid_prefix is not None:
        query = query.where(uuid_prefix(Service.uuid, filters.uuid_prefix))
    if filters.stack_uuid is not None:
        query = query.join(Stack, Service.stack_id == Stack.id).where(
            Stack.uuid == filters.stack_uuid
        )
    services = list(session.scalars(query))
    members = members_of(session, (service.id for service in services))
    rows = [(service, members[service.id]) for service in services]
    if filters.state is not None:
        rows = [
            row
            for row in rows
            if state_of(row[0], (m.state for m in row[1])).value == filters.state
        ]
    return rows[offset : offset + limit], len(rows)
