"""Action resources: the audit trail of API calls, in chronological order."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_restful import Resource

from controlplane import store
from controlplane.api import context
from controlplane.api.containers import uuid_from_uri
from controlplane.api.context import current_user, db_session, require_user
from controlplane.api.serializers import action_to_json

LIST_FILTERS = ("object", "state")


class ActionListResource(Resource):
    method_decorators = [require_user]

    def get(self) -> dict[str, Any]:
        limit, offset = context.paging()
        target = request.args.get("object")
        rows, total = store.list_actions(
            db_session(),
            owner_id=current_user().id,
            limit=limit,
            offset=offset,
            container_uuid=uuid_from_uri(target) if target else None,
            state=request.args.get("state"),
        )
        return context.page(
            [action_to_json(row, context.links()) for row in rows],
            total=total,
            limit=limit,
            offset=offset,
            filters=LIST_FILTERS,
        )


class ActionResource(Resource):
    method_decorators = [require_user]

    def get(self, uuid: str) -> dict[str, Any]:
        action = store.get_action(db_session(), owner_id=current_user().id, uuid=uuid)
        return action_to_json(action, context.links())
