"""The events websockets: Tutum `/v1/events` and Docker Cloud `/api/audit/v1/[ns/]events`.

A socket stays open for as long as the client keeps it (docs/api.md §7.4: both SDKs reconnect at
once whenever the server closes) and receives every event its user may see, with resource URIs
in the tree it connected to. The two trees fail authentication differently because their SDKs
do: python-tutum only understands an error frame on an open socket and reconnects forever after a
refused handshake, python-dockercloud only understands a refused handshake (401).
"""

from __future__ import annotations

from flask import Response
from simple_websocket import Server

from controlplane.api import params
from controlplane.api.base import close_db_session, ended_for_revoked_key, services, stream_user
from controlplane.api.eventhub import Subscription
from controlplane.api.serializers import UNAUTHORIZED_FRAME, event_to_json
from controlplane.api.trees import Links
from controlplane.api.websocket import (
    INTERNAL_ERROR,
    POLICY_VIOLATION,
    close,
    discard_incoming,
    send_json,
    serve,
)
from controlplane.core.errors import AuthenticationError

# How often a quiet session looks whether its client is still there.
_POLL_SECONDS = 1.0


def tutum_events_socket() -> Response:
    try:
        user = stream_user()
    except AuthenticationError:
        return serve(_refuse_unauthorized)
    return _serve_events(user.id, with_identity=False)


def dockercloud_events_socket(namespace: str | None = None) -> Response:
    user = stream_user(namespace)
    return _serve_events(user.id, with_identity=True)


def _refuse_unauthorized(ws: Server) -> None:
    send_json(ws, UNAUTHORIZED_FRAME)
    close(ws, POLICY_VIOLATION, "UNAUTHORIZED")


def _serve_events(owner_id: int, *, with_identity: bool) -> Response:
    links = params.links()
    # A session may last hours, and the subscription may wait for the listener: neither may hold
    # a database connection (or, on SQLite, the write lock that every transaction here takes).
    close_db_session()
    subscription = services().event_hub.subscribe(
        owner_id, timeout=services().settings.node_timeout
    )
    try:
        return serve(lambda ws: _relay(ws, subscription, links, with_identity=with_identity))
    finally:
        subscription.close()


def _relay(ws: Server, subscription: Subscription, links: Links, *, with_identity: bool) -> None:
    while ws.connected and not ended_for_revoked_key(ws):
        event = subscription.get(timeout=_POLL_SECONDS)
        if subscription.overflowed:
            close(ws, INTERNAL_ERROR, "the client reads events too slowly")
            return
        if event is not None:
            send_json(ws, event_to_json(event, links, with_identity=with_identity))
        discard_incoming(ws)
