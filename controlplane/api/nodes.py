"""Node resources: the Docker hosts whose agents have registered.

List filters: `state`, `uuid`, `uuid__startswith`; other parameters are ignored, as for containers.
"""

from __future__ import annotations

from typing import Any

from flask import request

from controlplane.api import params
from controlplane.api.base import UserResource, db_session
from controlplane.api.serializers import node_to_json
from controlplane.core.lifecycle import NODE_STATE_FILTERS
from controlplane.db import nodes
from controlplane.db.models import Node

# `uuid__startswith` is what the SDKs' Utils.fetch_remote_node sends for a short id.
LIST_FILTERS = ("state", "uuid", "uuid__startswith")


def _node_json(node: Node) -> dict[str, Any]:
    live = nodes.count_live_containers(db_session(), node_id=node.id)
    return node_to_json(node, params.links(), live_containers=live)


class NodeListResource(UserResource):
    def get(self) -> dict[str, Any]:
        limit, offset = params.paging()
        args = request.args
        rows, total = nodes.list_nodes(
            db_session(),
            limit=limit,
            offset=offset,
            state=params.query_choice("state", NODE_STATE_FILTERS),
            uuid=args.get("uuid"),
            uuid_prefix=args.get("uuid__startswith"),
        )
        return params.page(
            [_node_json(row) for row in rows],
            total=total,
            limit=limit,
            offset=offset,
            filters=LIST_FILTERS,
        )


class NodeResource(UserResource):
    def get(self, uuid: str) -> dict[str, Any]:
        return _node_json(nodes.get_node(db_session(), uuid=uuid))
