"""The REST API: one route table for every resource (the Redash pattern), in both URL trees.

Routes end in a slash, as every SDK request does (tutum-api.md §1.4); the slash-less form is
answered too, without a redirect, because a redirect would turn an SDK's POST into a GET.
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
from controlplane.api.containers import (
    ContainerListResource,
    ContainerLogsResource,
    ContainerRedeployResource,
    ContainerResource,
    ContainerStartResource,
    ContainerStopResource,
)
from controlplane.api.errors import ControlPlaneApi
from controlplane.api.nodes import NodeListResource, NodeResource
from controlplane.api.trees import route_rules

# (resource, kind, path after the collection, endpoint); each answers in both URL trees.
ROUTES = (
    (ContainerListResource, "container", "", "containers"),
    (ContainerResource, "container", "<uuid>/", "container"),
    (ContainerStartResource, "container", "<uuid>/start/", "container_start"),
    (ContainerStopResource, "container", "<uuid>/stop/", "container_stop"),
    (ContainerRedeployResource, "container", "<uuid>/redeploy/", "container_redeploy"),
    (ContainerLogsResource, "container", "<uuid>/logs/", "container_logs"),
    (ActionListResource, "action", "", "actions"),
    (ActionResource, "action", "<uuid>/", "action"),
    (ActionCancelResource, "action", "<uuid>/cancel/", "action_cancel"),
    (ActionRetryResource, "action", "<uuid>/retry/", "action_retry"),
    (NodeListResource, "node", "", "nodes"),
    (NodeResource, "node", "<uuid>/", "node"),
)


def register_api(app: Flask) -> ControlPlaneApi:
    api = ControlPlaneApi(app)
    for resource, kind, suffix, endpoint in ROUTES:
        api.add_resource(
            resource, *route_rules(kind, suffix), endpoint=endpoint, strict_slashes=False
        )
    # Outside the two trees' collections: Tutum's under /api/v1/, Docker Cloud's at the host root.
    api.add_resource(AuthResource, *AUTH_PATHS, endpoint="auth", strict_slashes=False)
    return api
