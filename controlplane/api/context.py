"""Per-request plumbing shared by the resources: database session, caller, body and paging.

The session lives on `flask.g` and is rolled back and closed at the end of every request, so a
failed request never leaves a half-written transaction behind. A GET's session only reads
(`Database.read_sessions`: on SQLite, a deferred transaction that neither waits for nor holds
the write lock); any other method's session writes. What a write request reads before it
writes (the caller's key, the nodes' loads) it reads through `read_session`, outside the
write lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from sqlalchemy.orm import Session

from controlplane.api.eventhub import EventHub
from controlplane.api.logchannels import LogChannels
from controlplane.api.serializers import page_to_json
from controlplane.api.trees import Links, tree_of
from controlplane.api.websocket import StreamSlots
from controlplane.core.checks import parse_bool
from controlplane.core.credentials import Credentials, parse_authorization, stream_credentials
from controlplane.core.errors import (
    AuthenticationError,
    InvalidInputError,
    NamespaceNotFoundError,
    UnsupportedMediaTypeError,
)
from controlplane.db import users
from controlplane.db.actions import RequestInfo
from controlplane.db.engine import Database
from controlplane.db.models import User
from controlplane.dispatch import Dispatcher
from controlplane.events import EventPublisher
from controlplane.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

EXTENSION = "controlplane"
MAX_AUDIT_BODY = 4096
# Docker reads a log tail as a 32-bit count.
MAX_LOG_TAIL = 2**31 - 1
# Methods whose requests only read.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def settings() -> Settings:
    return cast(Settings, current_app.extensions[EXTENSION]["settings"])


def dispatcher() -> Dispatcher:
    return cast(Dispatcher, current_app.extensions[EXTENSION]["dispatcher"])


def event_hub() -> EventHub:
    return cast(EventHub, current_app.extensions[EXTENSION]["event_hub"])


def stream_slots() -> StreamSlots:
    return cast(StreamSlots, current_app.extensions[EXTENSION]["stream_slots"])


def log_channels() -> LogChannels:
    return cast(LogChannels, current_app.extensions[EXTENSION]["log_channels"])


def publisher() -> EventPublisher:
    return cast(EventPublisher, current_app.extensions[EXTENSION]["publisher"])


def database() -> Database:
    return cast(Database, current_app.extensions[EXTENSION]["database"])


def db_session() -> Session:
    """The request's session: a read session for a GET, a writer's otherwise."""
    if "db_session" not in g:
        reading = request.method in READ_METHODS
        g.db_session = database().read_sessions() if reading else database().sessions()
    return cast(Session, g.db_session)


@contextmanager
def read_session() -> Iterator[Session]:
    """A session for reads a request makes before it writes: the request's own in a GET,
    otherwise one of its own, closed on leaving, so the write that follows does not wait while
    it holds a pooled connection."""
    if request.method in READ_METHODS:
        yield db_session()
        return
    with database().read_session() as session:
        yield session


def close_db_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def current_user() -> User:
    return cast(User, g.user)


def require_user(method: F) -> F:
    """Resource method decorator: authenticate the caller (401 otherwise) and check the Docker
    Cloud namespace in the path, which must be the caller's own (404 otherwise, as for any
    object the caller cannot see). The namespace is consumed here; methods never see it."""

    @wraps(method)
    def wrapper(*args: Any, namespace: str | None = None, **kwargs: Any) -> Any:
        credentials = parse_authorization(request.headers.get("Authorization"))
        g.user = _authorize(credentials, namespace)
        return method(*args, **kwargs)

    return cast(F, wrapper)


def stream_user(namespace: str | None = None) -> User:
    """The caller of a stream handshake, authenticated by header or by the older query forms.

    Raises:
        AuthenticationError: no or bad credentials.
        NamespaceNotFoundError: a Docker Cloud namespace that is not the caller's.
    """
    credentials = stream_credentials(request.headers.get("Authorization"), request.args)
    user = _authorize(credentials, namespace)
    g.user = user
    return user


def _authorize(credentials: Credentials | None, namespace: str | None) -> User:
    user = None
    if credentials:
        with read_session() as session:
            user = users.authenticate(session, credentials)
    if user is None:
        raise AuthenticationError()
    if namespace is not None and namespace != user.username:
        raise NamespaceNotFoundError(ident=namespace)
    return user


def links() -> Links:
    """Resource URIs in the tree (and namespace) this request came in on."""
    namespace = (request.view_args or {}).get("namespace")
    return Links(tree_of(request.path), namespace)


def json_body() -> dict[str, Any]:
    """The request body as a JSON object; an empty body is an empty object.

    The SDKs send `Content-Type: application/json` with no body on every call (tutum-api.md §1.5),
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
    if not isinstance(body, dict):
        raise InvalidInputError("body", "must be a JSON object")
    return body


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
    (tutum-api.md §9 item 18), so case is ignored; 1 and 0 are accepted too."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return parse_bool(name, raw)


def paging() -> tuple[int, int]:
    """(limit, offset) from the query string, bounded by the configured page sizes."""
    conf = settings()
    limit = query_int("limit", conf.page_size, minimum=1, maximum=conf.max_page_size)
    offset = query_int("offset", 0)
    return cast(int, limit), cast(int, offset)


def page(
    objects: list[dict[str, Any]],
    *,
    total: int,
    limit: int,
    offset: int,
    filters: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The list envelope for this request; `next` and `previous` repeat its `filters`."""
    query = {name: request.args[name] for name in filters if name in request.args}
    return page_to_json(
        objects, path=request.path, query=query, limit=limit, offset=offset, total=total
    )


def request_info() -> RequestInfo:
    body = request.get_data(as_text=True, cache=True)[:MAX_AUDIT_BODY]
    return RequestInfo(
        method=request.method,
        path=request.full_path.rstrip("?"),
        user_agent=request.headers.get("User-Agent", ""),
        ip=request.remote_addr or "",
        body=body,
    )
