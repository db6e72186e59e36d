"""Service resources: list, create, get, update, terminate, start, stop, redeploy and scale.

Actions answer 202 with the service itself, in the state its first step left it, and name
the service's Action in the tree's action header, as the container actions do (docs/api.md,
services). The work itself is `controlplane.servicecontrol`'s.
"""

from __future__ import annotations

from typing import Any

from flask import request

from controlplane.api import params
from controlplane.api.base import (
    UserResource,
    close_db_session,
    current_user,
    db_session,
    services,
)
from controlplane.api.containers import uuid_from_uri
from controlplane.api.service_json import service_to_json
from controlplane.core import checks
from controlplane.core.service_validation import MAX_TARGET
from controlplane.core.servicestate import ServiceAction, ServiceState
from controlplane.db import services as service_records
from controlplane.db.models import Service

LIST_FILTERS = ("state", "name", "unique_name", "uuid__startswith", "stack")

Reply = tuple[dict[str, Any], int, dict[str, str]]


def _filters() -> service_records.ServiceFilters:
    args = request.args
    stack = args.get("stack")
    return service_records.ServiceFilters(
        state=params.query_choice("state", (s.value for s in ServiceState)),
        name=args.get("name"),
        unique_name=args.get("unique_name"),
        uuid_prefix=args.get("uuid__startswith"),
        stack_uuid=uuid_from_uri(stack) if stack else None,
    )


def answer(service: Service) -> dict[str, Any]:
    """The service as it is now, with its live containers."""
    members = service_records.members_of(db_session(), [service.id])[service.id]
    return service_to_json(service, members, params.links())


def _accepted(service: Service, action_uuid: str, status: int) -> Reply:
    return answer(service), status, params.links().action_header(action_uuid)


class ServiceListResource(UserResource):
    def get(self) -> dict[str, Any]:
        limit, offset = params.paging()
        rows, total = service_records.list_services(
            db_session(), owner_id=current_user().id, filters=_filters(), limit=limit, offset=offset
        )
        links = params.links()
        return params.page(
            [service_to_json(service, members, links) for service, members in rows],
            total=total,
            limit=limit,
            offset=offset,
            filters=LIST_FILTERS,
        )

    def post(self) -> Reply:
        service, action = services().service_control.create(
            db_session(),
            owner_id=current_user().id,
            body=params.json_body(),
            request=params.request_info(),
        )
        return _accepted(service, action.uuid, 201)


class ServiceResource(UserResource):
    def get(self, uuid: str) -> dict[str, Any]:
        return answer(
            service_records.get_service(db_session(), owner_id=current_user().id, uuid=uuid)
        )

    def patch(self, uuid: str) -> Reply:
        service, action = services().service_control.update(
            db_session(),
            owner_id=current_user().id,
            uuid=uuid,
            body=params.json_body(),
            request=params.request_info(),
        )
        return _accepted(service, action.uuid, 200)

    def delete(self, uuid: str) -> Reply:
        return _perform(uuid, ServiceAction.TERMINATE)


class ServiceStartResource(UserResource):
    def post(self, uuid: str) -> Reply:
        return _perform(uuid, ServiceAction.START)


class ServiceStopResource(UserResource):
    def post(self, uuid: str) -> Reply:
        return _perform(uuid, ServiceAction.STOP)


class ServiceRedeployResource(UserResource):
    def post(self, uuid: str) -> Reply:
        """Every container replaced, one at a time; `reuse_volumes` is accepted and, as for a
        container redeploy, true (the default) keeps each container's volumes."""
        params.query_bool("reuse_volumes", True)
        return _perform(uuid, ServiceAction.REDEPLOY)


class ServiceScaleResource(UserResource):
    def post(self, uuid: str) -> Reply:
        """To the service's `target_num_containers`, or to the body's when one is sent
        (`{"target_num_containers": N}`): the CLIs PATCH the target first, then call this."""
        body = params.json_body()
        checks.keys("body", body, required=set(), optional={"target_num_containers"})
        target = checks.int_range(0, MAX_TARGET)(
            "target_num_containers", body.get("target_num_containers")
        )
        return _perform(uuid, ServiceAction.SCALE, target=target)


class ServiceLogsResource(UserResource):
    def get(self, uuid: str) -> dict[str, str]:
        """The logs of every container of the service with a Docker container on a reachable
        node, one container after the other, each line led by its container's unique name
        (`web-1 | ...`); a websocket handshake here is the service's log stream."""
        session = db_session()
        service = service_records.get_service(session, owner_id=current_user().id, uuid=uuid)
        tail = params.query_tail()
        wanted = [
            (container.node.uuid, container.uuid, container.unique_name)
            for container in service_records.loggable_containers(session, service.id)
        ]
        # Each node may take the whole node timeout: not with a transaction open.
        close_db_session()
        lines = []
        for node_uuid, container_uuid, name in wanted:
            logs = services().dispatcher.fetch_logs(node_uuid, container_uuid, tail)
            lines += [f"{name} | {line}" for line in logs.splitlines(keepends=True)]
        return {"logs": "".join(lines)}


def _perform(uuid: str, action: ServiceAction, *, target: int | None = None) -> Reply:
    service, record = services().service_control.perform(
        db_session(),
        owner_id=current_user().id,
        uuid=uuid,
        action=action,
        request=params.request_info(),
        target=target,
    )
    return _accepted(service, record.uuid, 202)
