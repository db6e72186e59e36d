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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from flask_restful import Resource
from sqlalchemy.orm import Session

from controlplane.api.eventhub import EventHub
from controlplane.api.logchannels import LogChannels
from controlplane.api.websocket import StreamSlots, claim_user_slot
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
    claim_user_slot(user.id)
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


class UserResource(Resource):
    """A REST resource whose every method needs an authenticated caller (`require_user`)."""

    method_decorators = [require_user]
