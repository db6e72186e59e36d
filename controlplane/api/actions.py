"""Action resources: the audit trail of API calls in chronological order, and the cancel and
retry endpoints. Cancel and retry answer 202 with the action itself (the SDKs load the body into
their Action object) and its URI in the tree's action header."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from flask import request
from flask_restful import Resource

from controlplane import events, operations
from controlplane.api import context
from controlplane.api.containers import uuid_from_uri
from controlplane.api.context import current_user, db_session, require_user
from controlplane.api.serializers import action_to_json
from controlplane.core.errors import InvalidInputError
from controlplane.core.lifecycle import ActionState
from controlplane.db import actions, containers
from controlplane.db.models import ActionRecord

LIST_FILTERS = (
    "object",
    "state",
    "start_date__gte",
    "start_date__lte",
    "end_date__gte",
    "end_date__lte",
)


def query_date(name: str) -> datetime | None:
    """A date filter, in ISO 8601 or the API's own RFC 2822 form; naive UTC like the columns."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        try:
            value = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            raise InvalidInputError(name, f"{raw!r} is not a date (ISO 8601 or RFC 2822)") from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _filters() -> actions.ActionFilters:
    target = request.args.get("object")
    return actions.ActionFilters(
        container_uuid=uuid_from_uri(target) if target else None,
        state=context.query_choice("state", (s.value for s in ActionState)),
        start_after=query_date("start_date__gte"),
        start_before=query_date("start_date__lte"),
        end_after=query_date("end_date__gte"),
        end_before=query_date("end_date__lte"),
    )


def _accepted(record: ActionRecord) -> tuple[dict[str, Any], int, dict[str, str]]:
    links = context.links()
    return action_to_json(record, links), 202, links.action_header(record.uuid)


class ActionListResource(Resource):
    method_decorators = [require_user]

    def get(self) -> dict[str, Any]:
        limit, offset = context.paging()
        rows, total = actions.list_actions(
            db_session(),
            owner_id=current_user().id,
            filters=_filters(),
            limit=limit,
            offset=offset,
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
        action = actions.get_action(db_session(), owner_id=current_user().id, uuid=uuid)
        return action_to_json(action, context.links())


class ActionCancelResource(Resource):
    method_decorators = [require_user]

    def post(self, uuid: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        record = containers.cancel_action(db_session(), owner_id=current_user().id, uuid=uuid)
        context.publisher().publish(
            [
                events.container_event(record.container, events.UPDATE),
                events.action_event(record, events.UPDATE),
            ]
        )
        return _accepted(record)


class ActionRetryResource(Resource):
    method_decorators = [require_user]

    def post(self, uuid: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        record = operations.retry(
            db_session(),
            context.dispatcher(),
            context.publisher(),
            owner_id=current_user().id,
            uuid=uuid,
            settings=context.settings(),
        )
        return _accepted(record)
