"""Container resources: list, create, get, start, stop, redeploy, terminate and logs.

Actions answer 202 with the container itself in its transitional state (the SDKs load the body
into their object) and name the Action in `X-Tutum-Action-URI` (docs/api.md §4.1, §4.2).
"""

from __future__ import annotations

from typing import Any

from flask import request

from controlplane.api import params
from controlplane.api.base import UserResource, close_db_session, current_user, db_session, services
from controlplane.api.serializers import container_to_json
from controlplane.core.lifecycle import NO_DOCKER_CONTAINER, Action, State
from controlplane.db import containers, nodes

SERVICE_FILTERS = ("service", "service__stack__name")
LIST_FILTERS = (
    "state",
    "name",
    "unique_name",
    "uuid",
    "uuid__startswith",
    "node",
    *SERVICE_FILTERS,
)

Reply = tuple[dict[str, Any], int, dict[str, str]]


def uuid_from_uri(value: str) -> str:
    """The uuid in a resource URI (`/api/v1/node/<uuid>/`) or a bare uuid, for URI filters."""
    return value.rstrip("/").rsplit("/", 1)[-1]


def _filters() -> containers.ContainerFilters:
    args = request.args
    node = args.get("node")
    service = args.get("service")
    return containers.ContainerFilters(
        state=params.query_choice("state", (s.value for s in State)),
        name=args.get("name"),
        unique_name=args.get("unique_name"),
        uuid=args.get("uuid"),
        uuid_prefix=args.get("uuid__startswith"),
        node_uuid=uuid_from_uri(node) if node else None,
        service_uuid=uuid_from_uri(service) if service is not None else None,
        stack_name=args.get("service__stack__name"),
    )


def _accepted(container: Any, action_uuid: str, status: int) -> Reply:
    """The container itself, with its Action's URI in the tree's action header (§4)."""
    links = params.links()
    return container_to_json(container, links), status, links.action_header(action_uuid)


class ContainerListResource(UserResource):
    def get(self) -> dict[str, Any]:
        limit, offset = params.paging()
        rows, total = containers.list_containers(
            db_session(), owner_id=current_user().id, filters=_filters(), limit=limit, offset=offset
        )
        return params.page(
            [container_to_json(row, params.links()) for row in rows],
            total=total,
            limit=limit,
            offset=offset,
            filters=LIST_FILTERS,
        )

    def post(self) -> Reply:
        container, action = services().operations.create(
            db_session(),
            owner_id=current_user().id,
            body=params.json_body(),
            request=params.request_info(),
        )
        return _accepted(container, action.uuid, 201)


class ContainerResource(UserResource):
    def get(self, uuid: str) -> dict[str, Any]:
        container = containers.get_container(db_session(), owner_id=current_user().id, uuid=uuid)
        return container_to_json(container, params.links())

    def delete(self, uuid: str) -> Reply:
        return _perform(uuid, Action.TERMINATE)


class ContainerStartResource(UserResource):
    def post(self, uuid: str) -> Reply:
        return _perform(uuid, Action.START)


class ContainerStopResource(UserResource):
    def post(self, uuid: str) -> Reply:
        return _perform(uuid, Action.STOP)


class ContainerRedeployResource(UserResource):
    def post(self, uuid: str) -> Reply:
        """A fresh Docker container from the same definition, under the same uuid;
        `reuse_volumes` (default true) keeps the old container's volumes."""
        reuse_volumes = params.query_bool("reuse_volumes", True)
        return _perform(uuid, Action.REDEPLOY, reuse_volumes=reuse_volumes)


class ContainerLogsResource(UserResource):
    def get(self, uuid: str) -> dict[str, str]:
        container = containers.get_container(db_session(), owner_id=current_user().id, uuid=uuid)
        tail = params.query_tail()
        if State(container.state) in NO_DOCKER_CONTAINER:
            return {"logs": ""}
        nodes.require_reachable(container.node)
        node_uuid = container.node.uuid
        # Waiting for the node may take the whole node timeout: not with a database transaction
        # open (on SQLite, every transaction holds the write lock).
        close_db_session()
        logs = services().dispatcher.fetch_logs(node_uuid, uuid, tail)
        return {"logs": logs}


def _perform(uuid: str, action: Action, *, reuse_volumes: bool = True) -> Reply:
    container, record = services().operations.perform(
        db_session(),
        owner_id=current_user().id,
        uuid=uuid,
        action=action,
        request=params.request_info(),
        reuse_volumes=reuse_volumes,
    )
    return _accepted(container, record.uuid, 202)
