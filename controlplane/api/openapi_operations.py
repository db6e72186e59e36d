"""The operations of the OpenAPI document: for each route, what it answers (the success and the
error codes particular to it), which parameters and body it reads and how a caller
authenticates. `controlplane.api.openapi` renders them; the answers every operation of a kind
gives (credentials, namespace, a NUL in the query, stream slots) it adds itself.

The path table uses the rules the routes are registered with (`trees.route_rules`, the stream
paths, `auth.AUTH_PATHS`), so a path cannot be spelt differently here than in the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from controlplane.api.auth import AUTH_PATHS
from controlplane.api.health import LIVENESS_PATH, READINESS_PATH
from controlplane.api.metrics import METRICS_PATH
from controlplane.api.trees import (
    DOCKERCLOUD_EVENTS_STREAMS,
    TUTUM_EVENTS_STREAM,
    TUTUM_EXEC_STREAM,
    TUTUM_LOGS_STREAM,
    route_rules,
)
from controlplane.core import errors
from controlplane.core.errors import error_code

OPENAPI_PATH = "/api/openapi.json"
Security = list[dict[str, list[str]]]
REST_SECURITY: Security = [{"basic": []}, {"apiKey": []}]
# A handshake also takes the query forms of 2015-era SDKs (docs/api.md §2.1).
STREAM_SECURITY: Security = [*REST_SECURITY, {"authQuery": []}, {"userQuery": [], "tokenQuery": []}]

# The code of an error Werkzeug raises is its status name in lower case (errors.error_response).
BAD_REQUEST, NOT_FOUND, METHOD_NOT_ALLOWED, TOO_LARGE = (
    HTTP_STATUS_CODES[status].lower() for status in (400, 404, 405, 413)
)
INVALID = error_code(errors.InvalidInputError)
UNAUTHENTICATED = error_code(errors.AuthenticationError)
BROKER_DOWN = error_code(errors.BrokerUnavailableError)
UNREACHABLE = error_code(errors.NodeUnreachableError)
DANGEROUS = error_code(errors.DangerousOptionForbiddenError)
CONTAINER_404 = error_code(errors.ContainerNotFoundError)
ACTION_404 = error_code(errors.ActionNotFoundError)
REFUSED = error_code(errors.TransitionRefusedError)
RATE_LIMITED = error_code(errors.RateLimitedError)

Codes = Mapping[int, tuple[str, ...]]


@dataclass(frozen=True)
class Operation:
    """One operation's contract, the same in each tree it is served in."""

    name: str
    summary: str
    # The success status; 101 for a path that is only a stream.
    status: int
    # The success body's schema; None for none, or for any JSON object.
    schema: str | None
    errors: Codes = field(default_factory=dict)
    # Query parameters, by their names in components.parameters.
    query: tuple[str, ...] = ()
    body: str | None = None
    # Names its Action in the tree's action header (docs/api.md §4.2).
    accepted: bool = False
    # The credential forms; None: none needed; an empty requirement: optional.
    security: Security | None = field(default_factory=lambda: REST_SECURITY)
    # The frame schema when a websocket handshake on the path is a stream (101).
    frames: str | None = None
    # Whether the operationId names the tree it is in (`tutum_`, `dockercloud_ns_`).
    in_tree: bool = True
    # The success body's media type, when it is not JSON (`schema` is then ignored).
    text_type: str | None = None


def _action(name: str, summary: str, more: Codes | None = None) -> Operation:
    """start, stop, redeploy and terminate: 202 with the container in its transitional state
    (docs/api.md §4.1, §8.3), plus the codes `more` adds."""
    codes: dict[int, tuple[str, ...]] = {
        404: (CONTAINER_404,),
        409: (REFUSED,),
        # The body is not parsed, but it is recorded in the audit trail, so its size counts.
        413: (TOO_LARGE,),
        503: (UNREACHABLE, BROKER_DOWN),
    }
    codes.update(more or {})
    return Operation(name, summary, 202, "Container", codes, accepted=True)


PAGING = ("limit", "offset")
LIST_CONTAINERS = Operation(
    "container_list",
    "The caller's containers, in creation order (docs/api.md §3.1, §3.2)",
    200,
    "ContainerList",
    {400: (INVALID,)},
    query=("container_state", "name", "unique_name", "uuid", "uuid__startswith", "node")
    + ("service", "service__stack__name", *PAGING),
)
CREATE_CONTAINER = Operation(
    "container_create",
    "Create a container in Init (docs/api.md §3.4); nothing reaches Docker until it starts",
    201,
    "Container",
    {
        400: (INVALID,),
        403: (DANGEROUS, error_code(errors.QuotaExceededError)),
        413: (TOO_LARGE,),
        415: (error_code(errors.UnsupportedMediaTypeError),),
        429: (RATE_LIMITED,),
        503: (error_code(errors.NoNodeAvailableError), UNREACHABLE),
    },
    body="ContainerCreate",
    accepted=True,
)
GET_CONTAINER = Operation(
    "container_get", "One container", 200, "Container", {404: (CONTAINER_404,)}
)
TERMINATE = _action("container_terminate", "Terminate a container: 202 in Terminating")
START = _action("container_start", "Start a container: 202 in Starting", {403: (DANGEROUS,)})
STOP = _action("container_stop", "Stop a container: 202 in Stopping")
REDEPLOY = replace(
    _action(
        "container_redeploy",
        "Replace a container's Docker container: 202 in Starting (docs/api.md §4.4)",
        {400: (INVALID,), 403: (DANGEROUS,)},
    ),
    query=("reuse_volumes",),
)
LOGS = Operation(
    "container_logs",
    "A container's logs (docs/api.md §6.1); a websocket handshake here is its log stream (§6.2)",
    200,
    "Logs",
    {
        400: (INVALID,),
        404: (CONTAINER_404,),
        503: (UNREACHABLE, BROKER_DOWN),
        504: (error_code(errors.NodeTimeoutError),),
    },
    query=("tail", "follow"),
    security=STREAM_SECURITY,
    frames="LogFrame",
)
LOG_STREAM = replace(
    LOGS,
    name="container_log_stream",
    summary="A container's log stream (docs/api.md §6.2); a plain GET is a 400",
    status=101,
    schema=None,
    errors={**LOGS.errors, 400: (INVALID, BAD_REQUEST)},
)
# Only who may open it is refused at the handshake; the exec itself (its command, the container's
# state, its node) is answered on the open socket, with an error frame (docs/api.md §6.7).
EXEC = Operation(
    "container_exec",
    "Run a command in a Running container and stream its output, then its exit code "
    "(docs/api.md §6.5); a plain GET is a 400",
    101,
    None,
    {400: (BAD_REQUEST,), 404: (CONTAINER_404,)},
    query=("command",),
    security=STREAM_SECURITY,
    frames="ExecFrame",
)
# The same on Tutum's stream tree, beside the REST tree's path of the same tree.
EXEC_STREAM = replace(EXEC, name="container_exec_stream")
LIST_ACTIONS = Operation(
    "action_list",
    "The caller's actions, newest first (docs/api.md §3.1, §3.2, §3.5)",
    200,
    "ActionList",
    {400: (INVALID,)},
    query=("object", "uuid__startswith", "action_state", "start_date__gte", "start_date__lte")
    + ("end_date__gte", "end_date__lte", *PAGING),
)
GET_ACTION = Operation("action_get", "One action", 200, "Action", {404: (ACTION_404,)})
CANCEL = Operation(
    "action_cancel",
    "Cancel a Pending action (docs/api.md §4.3)",
    202,
    "Action",
    {404: (ACTION_404,), 409: (error_code(errors.ActionNotCancelableError),)},
    accepted=True,
)
RETRY = Operation(
    "action_retry",
    "Run a Failed action again, under the same action (docs/api.md §4.3)",
    202,
    "Action",
    {
        403: (DANGEROUS,),
        404: (ACTION_404,),
        409: (error_code(errors.ActionNotRetriableError), REFUSED),
        503: (UNREACHABLE, BROKER_DOWN),
    },
    accepted=True,
)
LIST_NODES = Operation(
    "node_list",
    "The nodes, in enrollment order (docs/api.md §3.6)",
    200,
    "NodeList",
    {400: (INVALID,)},
    query=("node_state", "uuid", "uuid__startswith", *PAGING),
)
GET_NODE = Operation(
    "node_get", "One node", 200, "Node", {404: (error_code(errors.NodeNotFoundError),)}
)
CREDENTIAL_CHECK = Operation(
    "credential_check", "Check the caller's credentials (docs/api.md §2.2)", 200, "CredentialCheck"
)
DOCKERCLOUD_EVENTS = Operation(
    "events",
    "The events stream (docs/api.md §7); a plain GET is a 400",
    101,
    None,
    {400: (BAD_REQUEST,), 503: (BROKER_DOWN,)},
    security=STREAM_SECURITY,
    frames="DockerCloudEvent",
)
# Bad or missing credentials complete this handshake and get an error frame (§7.3) instead of a
# 401, so the Tutum events stream opens without credentials.
TUTUM_EVENTS = replace(DOCKERCLOUD_EVENTS, security=[*STREAM_SECURITY, {}], frames="TutumEvent")
DOCUMENT = Operation("openapi_document", "This document", 200, None, security=None, in_tree=False)
LIVENESS = Operation(
    "liveness", "Whether this API process serves HTTP", 200, "Liveness", security=None,
    in_tree=False,
)  # fmt: skip
READINESS = Operation(
    "readiness",
    "Whether it can serve the API: its database answers, at this version's schema, and so "
    "does its broker",
    200,
    "Readiness",
    {503: (error_code(errors.NotReadyError),)},
    security=None,
    in_tree=False,
)

METRICS = Operation(
    "metrics",
    "Prometheus metrics of the API processes and of what the control plane holds "
    "(docs/operations.md §13)",
    200,
    None,
    security=None,
    in_tree=False,
    text_type="text/plain; version=1.0.0",
)


def path_table(app: Flask) -> list[tuple[list[str], dict[str, Operation]]]:
    """(Flask rules, method -> operation) of every route `app` serves (`api.register_api`)."""
    table = [
        (route_rules("container"), {"get": LIST_CONTAINERS, "post": CREATE_CONTAINER}),
        (route_rules("container", "<uuid>/"), {"get": GET_CONTAINER, "delete": TERMINATE}),
        (route_rules("container", "<uuid>/start/"), {"post": START}),
        (route_rules("container", "<uuid>/stop/"), {"post": STOP}),
        (route_rules("container", "<uuid>/redeploy/"), {"post": REDEPLOY}),
        (route_rules("container", "<uuid>/logs/"), {"get": LOGS}),
        (route_rules("action"), {"get": LIST_ACTIONS}),
        (route_rules("action", "<uuid>/"), {"get": GET_ACTION}),
        (route_rules("action", "<uuid>/cancel/"), {"post": CANCEL}),
        (route_rules("action", "<uuid>/retry/"), {"post": RETRY}),
        (route_rules("node"), {"get": LIST_NODES}),
        (route_rules("node", "<uuid>/"), {"get": GET_NODE}),
        (list(AUTH_PATHS), {"get": CREDENTIAL_CHECK}),
        ([TUTUM_LOGS_STREAM], {"get": LOG_STREAM}),
        (route_rules("container", "<uuid>/exec/"), {"get": EXEC}),
        ([TUTUM_EXEC_STREAM], {"get": EXEC_STREAM}),
        ([TUTUM_EVENTS_STREAM], {"get": TUTUM_EVENTS}),
        (list(DOCKERCLOUD_EVENTS_STREAMS), {"get": DOCKERCLOUD_EVENTS}),
        ([OPENAPI_PATH], {"get": DOCUMENT}),
        ([LIVENESS_PATH], {"get": LIVENESS}),
        ([READINESS_PATH], {"get": READINESS}),
        ([METRICS_PATH], {"get": METRICS}),
    ]
    return table
