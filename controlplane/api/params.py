"""What the resources read from the request: its JSON body, query parameters and paging, the URL
tree it came in on and what the audit trail records of it; and the list envelope built from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, cast

from flask import request
from werkzeug.exceptions import NotFound

from controlplane.api.base import services
from controlplane.api.serializers import page_to_json
from controlplane.api.trees import Links, tree_of
from controlplane.core.checks import MAX_DEPTH, document, parse_bool, storable, storable_copy
from controlplane.core.errors import InvalidInputError, UnsupportedMediaTypeError
from controlplane.db.actions import RequestInfo

MAX_AUDIT_BODY = 4096
MAX_USER_AGENT = 1024
# Docker reads a log tail as a 32-bit count.
MAX_LOG_TAIL = 2**31 - 1
# An offset both backends take (a signed 64-bit OFFSET); beyond it SQLite's driver overflows.
MAX_OFFSET = 2**63 - 1


def links() -> Links:
    """Resource URIs in the tree (and namespace) this request came in on."""
    namespace = (request.view_args or {}).get("namespace")
    return Links(tree_of(request.path), namespace)


def json_body() -> dict[str, Any]:
    """The request body as a JSON object; an empty body is an empty object.

    The SDKs send `Content-Type: application/json` with no body on every call (docs/api.md §1.5),
    so emptiness is not an error; a non-empty body must be a JSON object sent as JSON.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if not request.is_json:
        raise UnsupportedMediaTypeError()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("body", "is not valid JSON") from None
    except RecursionError:
        # The decoder recurses per nesting level: ~1000 levels, well inside the size limit.
        raise InvalidInputError("body", f"nests deeper than {MAX_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise InvalidInputError("body", "must be a JSON object")
    document(body)
    return body


def refuse_unservable_path() -> None:
    """Before every request: a path with an empty segment (`//`) or a NUL (`%00`) names
    nothing, so it is a 404. Werkzeug would otherwise match `/api/v1/container//` to the list,
    as routes take an optional trailing slash (a client that dropped an id would get an answer
    it did not ask for), and look a NUL up as a uuid or a namespace, which PostgreSQL refuses
    in text, as a 500. Whatever the method: such a path is not served, so not a 405 either."""
    if "//" in request.path or "\x00" in request.path:
        raise NotFound()


def refuse_unstorable_query() -> None:
    """Before every request that routing accepted: a query parameter with a NUL (`%00`) is a
    400 naming it, since a filter holding one would fail on PostgreSQL, which refuses NUL in
    text, as a 500. (Werkzeug decodes the query with replacement characters, so no surrogate
    gets this far.)"""
    if request.routing_exception is not None:
        return
    for name, value in request.args.items(multi=True):
        storable(name, name)
        storable(name, value)


def query_int(
    name: str, default: int | None, *, minimum: int = 0, maximum: int | None = None
) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(name, f"must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidInputError(name, f"must be at least {minimum}{upper}")
    return value


def query_choice(name: str, choices: Iterable[str]) -> str | None:
    """A query filter that must be one of `choices` (a state name, say): 400 otherwise, since a
    misspelt value would silently match nothing."""
    raw = request.args.get(name)
    allowed = list(choices)
    if raw is not None and raw not in allowed:
        raise InvalidInputError(name, f"must be one of {', '.join(allowed)}")
    return raw


def query_tail() -> int | None:
    """The `tail` of a logs request: lines from the end, None for all of them."""
    return query_int("tail", None, maximum=MAX_LOG_TAIL)


def query_bool(name: str, default: bool) -> bool:
    """A boolean query parameter. SDKs send Python's True/False, Go and the docs true/false
    (docs/api.md §9.1 item 18), so case is ignored; 1 and 0 are accepted too."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return parse_bool(name, raw)


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
        value = _as_naive_utc(name, raw, value)
    return value


def _as_naive_utc(name: str, raw: str, value: datetime) -> datetime:
    """An aware date in naive UTC; a date whose UTC form falls outside years 1-9999
    (`0001-01-01T00:00:00+01:00`) cannot be represented, so it is bad input, not a 500."""
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise InvalidInputError(name, f"{raw!r} is outside the years 1 to 9999 in UTC") from None


def paging() -> tuple[int, int]:
    """(limit, offset) from the query string, bounded by the configured page sizes."""
    conf = services().settings
    limit = query_int("limit", conf.page_size, minimum=1, maximum=conf.max_page_size)
    offset = query_int("offset", 0, maximum=MAX_OFFSET)
    return cast(int, limit), cast(int, offset)


def page(
    objects: list[dict[str, Any]],
    *,
    total: int,
    limit: int,
    offset: int,
    filters: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The list envelope for this request; `next` and `previous` repeat its `filters`. A page
    whose objects pass the operator's byte budget is cut short (`within_bytes`)."""
    query = {name: request.args[name] for name in filters if name in request.args}
    fitted = within_bytes(objects, services().settings.max_page_bytes)
    return page_to_json(
        fitted,
        path=request.path,
        query=query,
        limit=limit,
        offset=offset,
        total=total,
        shown=len(fitted) if len(fitted) < len(objects) else None,
    )


def within_bytes(objects: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The first objects whose JSON fits in `budget` bytes, and always the first one: one
    worker answering a page of the largest objects the API accepts, a thousand at a time, would
    otherwise hold a gigabyte."""
    used = 0
    for count, obj in enumerate(objects):
        used += len(json.dumps(obj, separators=(",", ":")))
        if used > budget and count > 0:
            return objects[:count]
    return objects


def request_info() -> RequestInfo:
    """What an Action records of the request that made it. The header and the body are the
    client's bytes, unchecked (an action endpoint reads no body), so they are cut to size and
    made storable: a NUL, which PostgreSQL refuses in text, becomes U+FFFD."""
    return RequestInfo(
        method=request.method,
        path=request.full_path.rstrip("?"),
        user_agent=storable_copy(request.headers.get("User-Agent", ""), MAX_USER_AGENT),
        ip=request.remote_addr or "",
        body=storable_copy(request.get_data(as_text=True, cache=True), MAX_AUDIT_BODY),
    )
