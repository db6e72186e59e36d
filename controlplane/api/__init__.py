"""The API: one route table for the REST resources (the Redash pattern) in both URL trees, and
one for the websocket streams.

Routes end in a slash, as every SDK request does (docs/api.md §1.4); the slash-less form is
answered too, without a redirect, because a redirect would turn an SDK's POST into a GET. Stream
routes are Werkzeug websocket rules: they match handshakes only, so a stream may share its path
with a REST resource (Docker Cloud's container logs) and a plain GET still reaches the resource.
"""

from __future__ import annotations

from flask import Flask

from controlplane.api.actions import (
    ActionCancelResource,
    ActionListResource,
    ActionResource,
    ActionRetryResource,
)
from controlplane.api.auth import AUTH_PATHS, AuthResource
from controlplane.api.base import services
from controlplane.api.containers import (
    ContainerListResource,
    ContainerLogsResource,
    ContainerRedeployResource,
    ContainerResource,
    ContainerStartResource,
    ContainerStopResource,
)
from controlplane.api.errors import ControlPlaneApi
from controlplane.api.eventstream import dockercloud_events_socket, tutum_events_socket
from controlplane.api.execstream import exec_socket
from controlplane.api.health import (
    LIVENESS_PATH,
    READINESS_PATH,
    LivenessResource,
    ReadinessResource,
)
from controlplane.api.logstream import logs_socket, service_logs_socket
from controlplane.api.nodes import NodeListResource, NodeResource
from controlplane.api.openapi import OpenApiResource
from controlplane.api.openapi_operations import OPENAPI_PATH
from controlplane.api.service_resources import (
    ServiceListResource,
    ServiceLogsResource,
    ServiceRedeployResource,
    ServiceResource,
    ServiceScaleResource,
    ServiceStartResource,
    ServiceStopResource,
)
from controlplane.api.stack_resources import (
    StackExportResource,
    StackListResource,
    StackRedeployResource,
    StackResource,
    StackStartResource,
    StackStopResource,
)
from controlplane.api.trees import (
    DOCKERCLOUD_EVENTS_STREAMS,
    TUTUM_EVENTS_STREAM,
    TUTUM_EXEC_STREAM,
    TUTUM_LOGS_STREAM,
    TUTUM_SERVICE_LOGS_STREAM,
    route_rules,
)
from controlplane.api.websocket import holding_slot

# (resource, kind, path after the collection, endpoint); each answers in both URL trees.
ROUTES = (
    (ContainerListResource, "container", "", "containers"),
    (ContainerResource, "container", "<uuid>/", "container"),
    (ContainerStartResource, "container", "<uuid>/start/", "container_start"),
    (ContainerStopResource, "container", "<uuid>/stop/", "container_stop"),
    (ContainerRedeployResource, "container", "<uuid>/redeploy/", "container_redeploy"),
    (ContainerLogsResource, "container", "<uuid>/logs/", "container_logs"),
    (ServiceListResource, "service", "", "services"),
    (ServiceResource, "service", "<uuid>/", "service"),
    (ServiceStartResource, "service", "<uuid>/start/", "service_start"),
    (ServiceStopResource, "service", "<uuid>/stop/", "service_stop"),
    (ServiceRedeployResource, "service", "<uuid>/redeploy/", "service_redeploy"),
    (ServiceScaleResource, "service", "<uuid>/scale/", "service_scale"),
    (ServiceLogsResource, "service", "<uuid>/logs/", "service_logs"),
    (StackListResource, "stack", "", "stacks"),
    (StackResource, "stack", "<uuid>/", "stack"),
    (StackStartResource, "stack", "<uuid>/start/", "stack_start"),
    (StackStopResource, "stack", "<uuid>/stop/", "stack_stop"),
    (StackRedeployResource, "stack", "<uuid>/redeploy/", "stack_redeploy"),
    (StackExportResource, "stack", "<uuid>/export/", "stack_export"),
    (ActionListResource, "action", "", "actions"),
    (ActionResource, "action", "<uuid>/", "action"),
    (ActionCancelResource, "action", "<uuid>/cancel/", "action_cancel"),
    (ActionRetryResource, "action", "<uuid>/retry/", "action_retry"),
    (NodeListResource, "node", "", "nodes"),
    (NodeResource, "node", "<uuid>/", "node"),
)


# (view, rules, endpoint); the Tutum stream tree lives under /v1/ (§1.3).
STREAM_ROUTES = (
    (
        logs_socket,
        [TUTUM_LOGS_STREAM, *route_rules("container", "<uuid>/logs/")],
        "container_logs_stream",
    ),
    (
        exec_socket,
        [TUTUM_EXEC_STREAM, *route_rules("container", "<uuid>/exec/")],
        "container_exec_stream",
    ),
    (
        service_logs_socket,
        [TUTUM_SERVICE_LOGS_STREAM, *route_rules("service", "<uuid>/logs/")],
        "service_logs_stream",
    ),
    (tutum_events_socket, [TUTUM_EVENTS_STREAM], "events_stream_tutum"),
    (dockercloud_events_socket, list(DOCKERCLOUD_EVENTS_STREAMS), "events_stream_dockercloud"),
)


def register_api(app: Flask) -> ControlPlaneApi:
    api = ControlPlaneApi(app)
    for resource, kind, suffix, endpoint in ROUTES:
        api.add_resource(
            resource, *route_rules(kind, suffix), endpoint=endpoint, strict_slashes=False
        )
    # Outside the two trees' collections: Tutum's under /api/v1/, Docker Cloud's at the host root.
    api.add_resource(AuthResource, *AUTH_PATHS, endpoint="auth", strict_slashes=False)
    # Unauthenticated: the document is how a client learns the rest (docs/api.md §11).
    api.add_resource(OpenApiResource, OPENAPI_PATH, endpoint="openapi", strict_slashes=False)
    # Unauthenticated too: what probes ask (docs/api.md §12).
    api.add_resource(LivenessResource, LIVENESS_PATH, endpoint="livez")
    api.add_resource(ReadinessResource, READINESS_PATH, endpoint="readyz")
    for view, rules, stream_endpoint in STREAM_ROUTES:
        slotted = holding_slot(view, lambda: services().stream_slots)
        for rule in rules:
            app.add_url_rule(
                rule,
                endpoint=stream_endpoint,
                view_func=slotted,
                websocket=True,
                strict_slashes=False,
            )
    return api
