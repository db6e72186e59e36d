"""What every resource stands on: the app's services, the request's session and its caller.

`create_app` builds one `Services` and keeps it in the app's extensions; `services()` is the one
lookup for it. The session lives on `flask.g` and is rolled back and closed at the end of every
request, so a failed request never leaves a half-written transaction behind. A GET's session only
reads (`Database.read_sessions`: on SQLite, a deferred transaction that neither waits for nor
holds the write lock); any other method's session writes. What a write request reads before it
writes (the caller's key, the nodes' loads) it reads through `read_session`, outside the write
lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from flask_restful import Resource
from simple_websocket import Server
from sqlalchemy.orm import Session

from controlplane.api.eventhub import EventHub
from controlplane.api.logchannels import LogChannels
from controlplane.api.websocket import POLICY_VIOLATION, StreamSlots, claim_user_slot, close
from controlplane.core.credentials import Credentials, parse_authorization, stream_credentials
from controlplane.core.errors import AuthenticationError, NamespaceNotFoundError
from controlplane.db import users
from controlplane.db.engine import Database
from controlplane.db.models import User
from controlplane.dispatch import Dispatcher
from controlplane.events import EventPublisher
from controlplane.operations import Operations
from controlplane.servicecontrol import ServiceControl
from controlplane.settings import Settings
from controlplane.stackcontrol import StackControl

F = TypeVar("F", bound=Callable[..., Any])

EXTENSION = "controlplane"
# Methods whose requests only read.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How often an open stream looks again whether the key it was opened with still works: a key
# revoked (`controlplane key revoke`) ends its streams within this many seconds, at the cost of
# one indexed read per stream each time (docs/operations.md §3.1).
KEY_RECHECK_SECONDS = 10.0


@dataclass(frozen=True)
class Services:
    """Everything the resources use beyond the request itself, built once per app."""

    settings: Settings
    database: Database
    dispatcher: Dispatcher
    publisher: EventPublisher
    operations: Operations
    service_control: ServiceControl
    stack_control: StackControl
    event_hub: EventHub
    log_channels: LogChannels
    stream_slots: StreamSlots


def services() -> Services:
    return cast(Services, current_app.extensions[EXTENSION])


def db_session() -> Session:
    """The request's session: a read session for a GET, a writer's otherwise."""
    if "db_session" not in g:
        database = services().database
        reading = request.method in READ_METHODS
        g.db_session = database.read_sessions() if reading else database.sessions()
    return cast(Session, g.db_session)


@contextmanager
def read_session() -> Iterator[Session]:
    """A session for reads a request makes before it writes: the request's own in a GET,
    otherwise one of its own, closed on leaving, so the write that follows does not wait while
    it holds a pooled connection."""
    if request.method in READ_METHODS:
        yield db_session()
        return
    with services().database.read_session() as session:
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
        UserStreamCapacityError: the caller holds all the streams one user may (429).
    """
    credentials = stream_credentials(request.headers.get("Authorization"), request.args)
    user = _authorize(credentials, namespace)
    g.user = user
    g.stream_key = StreamKey(cast(Credentials, credentials))  # _authorize refused None
    claim_user_slot(user.id)
    return user


@dataclass
class StreamKey:
    """The key a stream was opened with, looked up again every KEY_RECHECK_SECONDS: a stream
    lasts hours, and must not outlive the revocation of the key that opened it."""

    credentials: Credentials
    checked: float = field(default_factory=time.monotonic)

    def revoked(self) -> bool:
        now = time.monotonic()
        if now - self.checked < KEY_RECHECK_SECONDS:
            return False
        self.checked = now
        with read_session() as session:
            return users.authenticate(session, self.credentials) is None


def ended_for_revoked_key(ws: Server) -> bool:
    """Close this request's stream (1008) if the key it was opened with (`stream_user`) has
    been revoked since; whether it did. Every stream's relay asks on each turn of its loop."""
    stream_key: StreamKey = g.stream_key
    if not stream_key.revoked():
        return False
    close(ws, POLICY_VIOLATION, "the API key was revoked")
    return True


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


class UserResource(Resource):
    """A REST resource whose every method needs an authenticated caller (`require_user`)."""

    method_decorators = [require_user]
