"""Action resources: the audit trail of API calls, newest first, and the cancel and
retry endpoints. Cancel and retry answer 202 with the action itself (the SDKs load the body into
their Action object) and its URI in the tree's action header."""

from __future__ import annotations

from typing import Any

from flask import request

from controlplane.api import params
from controlplane.api.base import UserResource, current_user, db_session, services
from controlplane.api.containers import uuid_from_uri
from controlplane.api.serializers import action_to_json
from controlplane.core.lifecycle import ActionState
from controlplane.db import actions
from controlplane.db.models import ActionRecord

# `uuid__startswith` is what the SDKs' Utils.fetch_remote_action sends for a short id
# (`tutum action inspect 1a2b`); ignored, it would list every action and the CLI would refuse.
LIST_FILTERS = (
    "object",
    "uuid__startswith",
    "state",
    "start_date__gte",
    "start_date__lte",
    "end_date__gte",
    "end_date__lte",
)


def _filters() -> actions.ActionFilters:
    target = request.args.get("object")
    return actions.ActionFilters(
        object_uuid=uuid_from_uri(target) if target else None,
        uuid_prefix=request.args.get("uuid__startswith"),
        state=params.query_choice("state", (s.value for s in ActionState)),
        start_after=params.query_date("start_date__gte"),
        start_before=params.query_date("start_date__lte"),
        end_after=params.query_date("end_date__gte"),
        end_before=params.query_date("end_date__lte"),
    )


def _accepted(record: ActionRecord) -> tuple[dict[str, Any], int, dict[str, str]]:
    links = params.links()
    return action_to_json(record, links), 202, links.action_header(record.uuid)


class ActionListResource(UserResource):
    def get(self) -> dict[str, Any]:
        limit, offset = params.paging()
        rows, total = actions.list_actions(
            db_session(),
            owner_id=current_user().id,
            filters=_filters(),
            limit=limit,
            offset=offset,
        )
        return params.page(
            [action_to_json(row, params.links()) for row in rows],
            total=total,
            limit=limit,
            offset=offset,
            filters=LIST_FILTERS,
        )


class ActionResource(UserResource):
    def get(self, uuid: str) -> dict[str, Any]:
        action = actions.get_action(db_session(), owner_id=current_user().id, uuid=uuid)
        return action_to_json(action, params.links())


class ActionCancelResource(UserResource):
    def post(self, uuid: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        record = services().operations.cancel(db_session(), owner_id=current_user().id, uuid=uuid)
        return _accepted(record)


class ActionRetryResource(UserResource):
    def post(self, uuid: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        record = services().operations.retry(db_session(), owner_id=current_user().id, uuid=uuid)
        return _accepted(record)
