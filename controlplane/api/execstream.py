"""The exec websockets (docs/api.md §6.5): run a command in a Running container and stream its
output, then its exit code. Tutum `/v1/container/<uuid>/exec/`, and the container exec path of
each REST tree (Docker Cloud's `/api/app/v1/[ns/]container/<uuid>/exec/`).

Who may open the socket is decided at the handshake, by the log stream's rules: no or bad
credentials 401, a container the caller cannot see or another namespace 404, the stream caps
429 and 503. Everything about the exec itself is said on the open socket, as an error frame in
the shape the old CLIs read, then a close: 1008 for what the client can change (a bad command, a
container that is not Running), 1011 for what it cannot (its node not Deployed, the broker down,
the node failing or falling silent). The CLIs print such a frame, and a browser can read it,
where neither shows the body of a refused handshake. (Not 1013, "try again later":
websocket-client before 1.0, which the SDKs and the CLIs run on, takes it for a protocol error.)

The command runs in the container's node agent (`workers.execstream`), never here: the request
goes to the node sealed like every task, and the output comes back on a channel of its own,
sealed by the node for this one exec (`controlplane.api.logchannels`). The request is sent
only once the socket is open, so a command never runs for a client that did not stay for it.
What the client sends (the CLIs send their stdin) is read and dropped: the command has no stdin.
"""

from __future__ import annotations

import functools
import logging
import time

from flask import Response, request
from simple_websocket import Server

from controlplane.api.base import (
    close_db_session,
    db_session,
    ended_for_revoked_key,
    services,
    stream_user,
)
from controlplane.api.logchannels import ExecSubscription
from controlplane.api.serializers import (
    exec_error_to_json,
    exec_exit_to_json,
    exec_output_to_json,
)
from controlplane.api.websocket import (
    INTERNAL_ERROR,
    NORMAL_CLOSURE,
    POLICY_VIOLATION,
    close,
    discard_incoming,
    send_json,
    serve,
)
from controlplane.core import commands, errors
from controlplane.core.lifecycle import State
from controlplane.core.messages import (
    EXEC_EXIT,
    EXEC_FAILED,
    EXEC_OUTPUT,
    EXEC_TICK_SECONDS,
    ExecRequest,
    ExecStreamMessage,
)
from controlplane.db import containers, nodes
from controlplane.db.engine import new_uuid
from controlplane.db.models import Container

log = logging.getLogger(__name__)

# How often a quiet session looks whether its client is still there.
_POLL_SECONDS = 1.0
# The close code that follows each error frame, by the error's class (through the MRO); any
# other error is the server's or the node's (1011).
_CLOSE_CODES: dict[type[errors.ControlPlaneError], int] = {
    errors.InvalidInputError: POLICY_VIOLATION,
    errors.ConflictError: POLICY_VIOLATION,
}
_NOT_RUNNING = errors.error_code(errors.ContainerNotRunningError)
# What an exec may be refused with on its open socket before anything is sent to the node.
_REFUSALS = (errors.InvalidInputError, errors.ContainerNotRunningError, errors.NodeUnreachableError)


def exec_socket(uuid: str, namespace: str | None = None) -> Response:
    user = stream_user(namespace)
    container = containers.get_container(db_session(), owner_id=user.id, uuid=uuid)
    try:
        exec_request = _request_for(container)
    except _REFUSALS as exc:
        close_db_session()
        return serve(functools.partial(refuse, error=exc))
    node_uuid = container.node.uuid
    # The command may hold secrets: the log names its program and how many arguments.
    log.info(
        "exec %s in container %s by %s on node %s: %s with %d argument(s)",
        exec_request.stream_id,
        container.uuid,
        user.username,
        node_uuid,
        exec_request.command[0],
        len(exec_request.command) - 1,
    )
    # A command may run for hours: the socket must not hold a database connection (or, on
    # SQLite, the write lock that every transaction here takes).
    close_db_session()
    return serve(functools.partial(_run, exec_request=exec_request, node_uuid=node_uuid))


def _request_for(container: Container) -> ExecRequest:
    """The request for the node, once the command, the container and its node allow it (in the
    order of docs/api.md §5.3: the input, then the state, then the node).

    Raises:
        InvalidInputError: the `command` query parameter is missing or bad.
        ContainerNotRunningError: the container is not Running, or its processes are frozen.
        NodeUnreachableError: its node is not Deployed.
    """
    arguments = commands.exec_arguments(request.args.get(commands.FIELD))
    if State(container.state) is not State.RUNNING:
        raise errors.ContainerNotRunningError(uuid=container.uuid, state=container.state)
    if container.paused:
        raise errors.ContainerNotRunningError(uuid=container.uuid, state="paused")
    nodes.require_reachable(container.node)
    return ExecRequest(stream_id=new_uuid(), container_uuid=container.uuid, command=arguments)


def refuse(ws: Server, error: errors.ControlPlaneError) -> None:
    """Send `error` as the exec's last frame and close the socket with the code its class
    calls for."""
    send_json(ws, exec_error_to_json(error))
    close(ws, close_code(error), error.message)


def close_code(error: errors.ControlPlaneError) -> int:
    for cls in type(error).__mro__:
        if cls in _CLOSE_CODES:
            return _CLOSE_CODES[cls]
    return INTERNAL_ERROR


def _run(ws: Server, *, exec_request: ExecRequest, node_uuid: str) -> None:
    """Listen on the exec's channel, then have the node run it, and relay what comes back."""
    stream_id = exec_request.stream_id
    try:
        subscription = services().log_channels.subscribe_exec(stream_id, node_uuid)
    except (errors.BrokerUnavailableError, errors.NodeUnreachableError) as exc:
        refuse(ws, exc)
        return
    try:
        services().dispatcher.run_exec(node_uuid, exec_request)
        _relay(ws, subscription, node_uuid, _silence_limit())
    except errors.BrokerUnavailableError as exc:
        refuse(ws, exc)
    finally:
        subscription.close()


def _silence_limit() -> float:
    """How long a socket waits for its node: the node timeout for the exec to open, and a few
    missed ticks once it has (a quiet command ticks every EXEC_TICK_SECONDS)."""
    return float(max(services().settings.node_timeout, 3 * EXEC_TICK_SECONDS))


def _relay(ws: Server, subscription: ExecSubscription, node_uuid: str, limit: float) -> None:
    heard = time.monotonic()
    while ws.connected and not ended_for_revoked_key(ws):
        try:
            message = subscription.get(timeout=_POLL_SECONDS)
        except errors.BrokerUnavailableError as exc:
            refuse(ws, exc)
            return
        discard_incoming(ws)
        if message is None:
            if time.monotonic() - heard > limit:
                refuse(ws, errors.NodeTimeoutError(node=node_uuid, seconds=int(limit)))
                return
            continue
        heard = time.monotonic()
        if message.kind == EXEC_OUTPUT:
            send_json(ws, exec_output_to_json(message))
        elif message.kind == EXEC_EXIT and message.exit_code is not None:
            send_json(ws, exec_exit_to_json(message.exit_code))
            close(ws, NORMAL_CLOSURE, f"exit code {message.exit_code}")
            return
        elif message.kind in (EXEC_EXIT, EXEC_FAILED):
            refuse(ws, _failure(message))
            return


def _failure(message: ExecStreamMessage) -> errors.ControlPlaneError:
    """The error a node's failure message stands for."""
    reason = message.error or "the node sent no exit code"
    if message.code == _NOT_RUNNING:
        return errors.ContainerNotRunningError(reason)
    return errors.ExecFailedError(detail=reason)
