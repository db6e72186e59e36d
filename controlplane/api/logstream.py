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
from dataclasses import dataclass, field

from flask import Response
from simple_websocket import Server

from controlplane.api import params
from controlplane.api.base import (
    close_db_session,
    db_session,
    ended_for_revoked_key,
    services,
    stream_user,
)
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
from controlplane.core.lifecycle import NO_DOCKER_CONTAINER, State
from controlplane.core.messages import (
    LOG_END,
    LOG_LINE,
    LOG_TICK_SECONDS,
    LogStreamMessage,
    LogStreamRequest,
)
from controlplane.db import containers, nodes
from controlplane.db import services as service_records
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
        return serve(lambda ws: _relay(ws, [Stream(subscription)], _silence_limit()))
    finally:
        subscription.close()


def _silence_limit() -> float:
    """How long a socket waits for its node: the node timeout for the stream to open, and a few
    missed ticks once it has (a quiet stream ticks every LOG_TICK_SECONDS)."""
    return float(max(services().settings.node_timeout, 3 * LOG_TICK_SECONDS))


@dataclass
class Stream:
    """One container's log stream in a socket; `source` names it in each frame when the
    socket carries several (a service's), None when it carries one."""

    subscription: LogSubscription
    source: str | None = None
    heard: float = field(default_factory=time.monotonic)


def _relay(ws: Server, streams: list[Stream], silence_limit: float) -> None:
    """Send each stream's lines as they come until every stream has ended; the socket closes
    as its last stream ended (1000, or 1011 with why: its node fell silent, or the broker was
    lost, which ends them all)."""
    live = list(streams)
    while ws.connected and live and not ended_for_revoked_key(ws):
        discard_incoming(ws)
        wait = _POLL_SECONDS / len(live)
        for stream in list(live):
            try:
                message = stream.subscription.get(timeout=wait)
            except BrokerUnavailableError:
                close(ws, INTERNAL_ERROR, "lost the connection to the broker")
                return
            ended = _relay_one(ws, stream, message, silence_limit)
            if ended is not None:
                live.remove(stream)
                if not live:
                    close(ws, *ended)
                    return


def _relay_one(
    ws: Server, stream: Stream, message: LogStreamMessage | None, silence_limit: float
) -> tuple[int, str | None] | None:
    """Send one message of a stream; the close code and reason if the stream has ended."""
    now = time.monotonic()
    if message is None:
        if now - stream.heard > silence_limit:
            return INTERNAL_ERROR, "the container's node stopped answering"
        return None
    stream.heard = now
    if message.kind == LOG_LINE:
        frame = log_line_to_json(message)
        if stream.source is not None:
            frame["source"] = stream.source
        send_json(ws, frame)
    elif message.kind == LOG_END:
        return (INTERNAL_ERROR if message.error else NORMAL_CLOSURE), message.error
    return None


def service_logs_socket(uuid: str, namespace: str | None = None) -> Response:
    """A service's log stream: the lines of each of its containers that has a Docker
    container on a reachable node when the socket opens, each frame with its `source` (the
    container's unique name). Containers the service makes later are not added."""
    user = stream_user(namespace)
    session = db_session()
    service = service_records.get_service(session, owner_id=user.id, uuid=uuid)
    tail, follow = params.query_tail(), params.query_bool("follow", True)
    requests = [
        (
            container.node.uuid,
            container.unique_name,
            LogStreamRequest(
                stream_id=new_uuid(), container_uuid=container.uuid, tail=tail, follow=follow
            ),
        )
        for container in service_records.loggable_containers(session, service.id)
    ]
    close_db_session()
    if not requests:
        return serve(lambda ws: None)
    streams: list[Stream] = []
    try:
        for node_uuid, source, request in requests:
            subscription = services().log_channels.subscribe(request.stream_id, node_uuid)
            streams.append(Stream(subscription, source))
            services().dispatcher.stream_logs(node_uuid, request)
        return serve(lambda ws: _relay(ws, streams, _silence_limit()))
    finally:
        for stream in streams:
            stream.subscription.close()
