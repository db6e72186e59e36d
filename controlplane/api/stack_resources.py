"""Stack resources: list, create, get, update, terminate, start, stop, redeploy and export.

Actions answer 202 with the stack and name the stack's Action in the tree's action header; the
Action closes when every service it acted on has closed its own (`controlplane.stackcontrol`).
"""

from __future__ import annotations

from typing import Any

from flask import request

from controlplane.api import params
from controlplane.api.base import UserResource, current_user, db_session, services
from controlplane.api.service_json import stack_to_json
from controlplane.core.servicestate import ServiceAction
from controlplane.db import services as service_records
from controlplane.db import stacks
from controlplane.db.models import Stack

# `uuid__startswith` is what the SDKs' Utils.fetch_remote_stack sends first for a name.
LIST_FILTERS = ("name", "uuid__startswith")

Reply = tuple[dict[str, Any], int, dict[str, str]]


def answer(found: list[Stack]) -> list[dict[str, Any]]:
    """The stacks as they are now, each with its services and their containers."""
    session = db_session()
    by_stack = stacks.services_of(session, [stack.id for stack in found])
    members = service_records.members_of(
        session, (service.id for held in by_stack.values() for service in held)
    )
    links = params.links()
    return [stack_to_json(stack, by_stack[stack.id], members, links) for stack in found]


def _accepted(stack: Stack, action_uuid: str, status: int) -> Reply:
    return answer([stack])[0], status, params.links().action_header(action_uuid)


class StackListResource(UserResource):
    def get(self) -> dict[str, Any]:
        limit, offset = params.paging()
        rows, total = stacks.list_stacks(
            db_session(),
            owner_id=current_user().id,
            name=request.args.get("name"),
            uuid_prefix=request.args.get("uuid__startswith"),
            limit=limit,
            offset=offset,
        )
        return params.page(
            answer(rows), total=total, limit=limit, offset=offset, filters=LIST_FILTERS
        )

    def post(self) -> Reply:
        stack, action = services().stack_control.create(
            db_session(),
            owner_id=current_user().id,
            body=params.json_body(),
            request=params.request_info(),
        )
        return _accepted(stack, action.uuid, 201)


class StackResource(UserResource):
    def get(self, uuid: str) -> dict[str, Any]:
        stack = stacks.get_stack(db_session(), owner_id=current_user().id, uuid=uuid)
        return answer([stack])[0]

    def patch(self, uuid: str) -> Reply:
        stack, action = services().stack_control.update(
            db_session(),
            owner_id=current_user().id,
            uuid=uuid,
            body=params.json_body(),
            request=params.request_info(),
        )
        return _accepted(stack, action.uuid, 200)

    def delete(self, uuid: str) -> Reply:
        return _perform(uuid, ServiceAction.TERMINATE)


class StackStartResource(UserResource):
    def post(self, uuid: str) -> Reply:
        return _perform(uuid, ServiceAction.START)


class StackStopResource(UserResource):
    def post(self, uuid: str) -> Reply:
        return _perform(uuid, ServiceAction.STOP)


class StackRedeployResource(UserResource):
    def post(self, uuid: str) -> Reply:
        params.query_bool("reuse_volumes", True)
        return _perform(uuid, ServiceAction.REDEPLOY)


class StackExportResource(UserResource):
    def get(self, uuid: str) -> dict[str, Any]:
        """The stack as a stackfile's mapping (the CLIs write it out as YAML)."""
        return services().stack_control.export(db_session(), owner_id=current_user().id, uuid=uuid)


def _perform(uuid: str, action: ServiceAction) -> Reply:
    stack, record = services().stack_control.perform(
        db_session(),
        owner_id=current_user().id,
        uuid=uuid,
        action=action,
        request=params.request_info(),
    )
    return _accepted(stack, record.uuid, 202)
