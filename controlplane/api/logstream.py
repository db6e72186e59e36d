"""The container log websockets: Tutum `/v1/container/<uuid>/logs/` and the container logs path
of each REST tree (Docker Cloud's `/api/app/v1/[ns/]container/<uuid>/logs/`), told apart from the
REST logs request by the handshake.

Everything that can be refused is refused before the handshake, as the SDKs expect (§6.2): no
or bad credentials (401), a container the caller cannot see or another namespace (404), a bad
`tail` or `follow` (400), the container's node Unreachable or the broker down (503). The lines
come from the container's node agent through the broker (`controlplane.api.logchannels`,
`workers.logstream`); the API never reads Docker.
With `follow=false` the socket closes (1000) after the tail; otherwise it stays open until the
container is removed, the client leaves, or the node falls silent (1011).
"""

from __future__ import annotations

import time

from flask import Response
from simple_websocket import Server

from controlplane.api import params
from controlplane.api.base import close_db_session, db_session, services, stream_user
from controlplane.api.containers import NO_DOCKER_CONTAINER
from controlplane.api.logchannels import LogSubscription
from controlplane.api.serializers import log_line_to_json
from controlplane.api.websocket import (
    INTERNAL_ERROR,
    NORMAL_CLOSURE,
    close,
    discard_incoming,
    send_json,
    serve,
)
from controlplane.core.errors import BrokerUnavailableError
from controlplane.core.lifecycle import State
from controlplane.core.messages import LOG_END, LOG_LINE, LOG_TICK_SECONDS, LogStreamRequest
from controlplane.db import containers, nodes
from controlplane.db.engine import new_uuid

# How often a quiet session looks whether its client is still there.
_POLL_SECONDS = 1.0


def logs_socket(uuid: str, namespace: str | None = None) -> Response:
    user = stream_user(namespace)
    container = containers.get_container(db_session(), owner_id=user.id, uuid=uuid)
    request = LogStreamRequest(
        stream_id=new_uuid(),
        container_uuid=container.uuid,
        tail=params.query_tail(),
        follow=params.query_bool("follow", True),
    )
    on_docker = State(container.state) not in NO_DOCKER_CONTAINER
    if on_docker:
        nodes.require_reachable(container.node)
    node_uuid = container.node.uuid
    # A follower may last hours: it must not hold a database connection (or, on SQLite, the
    # write lock that every transaction here takes).
    close_db_session()
    if not on_docker:
        return serve(lambda ws: None)  # nothing was ever logged, or the container is gone
    subscription = services().log_channels.subscribe(request.stream_id, node_uuid)
    try:
        services().dispatcher.stream_logs(node_uuid, request)
        return serve(lambda ws: _relay(ws, subscription, _silence_limit()))
    finally:
        subscription.close()


def _silence_limit() -> float:
    """How long a socket waits for its node: the node timeout for the stream to open, and a few
    missed ticks once it has (a quiet stream ticks every LOG_TICK_SECONDS)."""
    return float(max(services().settings.node_timeout, 3 * LOG_TICK_SECONDS))


def _relay(ws: Server, subscription: LogSubscription, silence_limit: float) -> None:
    heard = time.monotonic()
    while ws.connected:
        try:
            message = subscription.get(timeout=_POLL_SECONDS)
        except BrokerUnavailableError:
            close(ws, INTERNAL_ERROR, "lost the connection to the broker")
            return
        discard_incoming(ws)
        if message is None:
            if time.monotonic() - heard > silence_limit:
                close(ws, INTERNAL_ERROR, "the container's node stopped answering")
                return
            continue
        heard = time.monotonic()
        if message.kind == LOG_LINE:
            send_json(ws, log_line_to_json(message))
        elif message.kind == LOG_END:
            code = INTERNAL_ERROR if message.error else NORMAL_CLOSURE
            close(ws, code, message.error)
            return
