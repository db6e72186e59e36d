"""Stack records: create, read, list, and the services each holds.

A stack's state is derived from its services' (`core.servicestate.derive_stack_state`), as a
service's is from its containers', so a list filtered by anything but the name reads every
service of the page's stacks.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.core.errors import StackNotFoundError
from controlplane.core.servicestate import Goal, StackState, derive_stack_state
from controlplane.db import services as service_records
from controlplane.db.engine import new_uuid, page, utcnow
from controlplane.db.engine import uuid_prefix as prefixed
from controlplane.db.models import Service, Stack


def add_stack(session: Session, *, owner_id: int, name: str) -> Stack:
    """A new stack (flushed, not committed), not yet deployed."""
    stack = Stack(
        uuid=new_uuid(), owner_id=owner_id, name=name, goal=Goal.INIT.value, created_at=utcnow()
    )
    session.add(stack)
    session.flush()
    return stack


def get_stack(session: Session, *, owner_id: int, uuid: str, lock: bool = False) -> Stack:
    query = select(Stack).where(Stack.uuid == uuid, Stack.owner_id == owner_id)
    if lock:
        query = query.with_for_update(of=Stack)
    stack = session.scalar(query)
    if stack is None:
        raise StackNotFoundError(ident=uuid)
    return stack


def services_of(session: Session, stack_ids: list[int]) -> dict[int, list[Service]]:
    """Each stack's services, in creation order."""
    found: dict[int, list[Service]] = defaultdict(list)
    if stack_ids:
        query = select(Service).where(Service.stack_id.in_(stack_ids)).order_by(Service.id)
        for service in session.scalars(query):
            found[service.stack_id or 0].append(service)
    return found


def state_of(session: Session, stack: Stack, services: list[Service]) -> StackState:
    members = service_records.members_of(session, (service.id for service in services))
    return derive_stack_state(
        stack.goal == Goal.TERMINATED.value,
        (
            service_records.state_of(service, (m.state for m in members[service.id]))
            for service in services
        ),
    )


def list_stacks(
    session: Session,
    *,
    owner_id: int,
    name: str | None,
    uuid_prefix: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Stack], int]:
    query = select(Stack).where(Stack.owner_id == owner_id)
    if name is not None:
        query = query.where(Stack.name == name)
    if uuid_prefix is not None:
        query = query.where(prefixed(Stack.uuid, uuid_prefix))
    return page(session, query, Stack.id, limit=limit, offset=offset)
