"""The REST API: one route table for every resource (the Redash pattern).

Routes end in a slash, as every SDK request does (tutum-api.md §1.4); the slash-less form is
answered too, without a redirect, because a redirect would turn an SDK's POST into a GET.
"""

from __future__ import annotations

from flask import Flask

from controlplane.api.actions import ActionListResource, ActionResource
from controlplane.api.containers import (
    ContainerListResource,
    ContainerLogsResource,
    ContainerResource,
    ContainerStartResource,
    ContainerStopResource,
)
from controlplane.api.errors import ControlPlaneApi
from controlplane.api.nodes import NodeListResource, NodeResource

ROUTES = (
    (ContainerListResource, "/api/v1/container/", "containers"),
    (ContainerResource, "/api/v1/container/<uuid>/", "container"),
    (ContainerStartResource, "/api/v1/container/<uuid>/start/", "container_start"),
    (ContainerStopResource, "/api/v1/container/<uuid>/stop/", "container_stop"),
    (ContainerLogsResource, "/api/v1/container/<uuid>/logs/", "container_logs"),
    (ActionListResource, "/api/v1/action/", "actions"),
    (ActionResource, "/api/v1/action/<uuid>/", "action"),
    (NodeListResource, "/api/v1/node/", "nodes"),
    (NodeResource, "/api/v1/node/<uuid>/", "node"),
)


def register_api(app: Flask) -> ControlPlaneApi:
    api = ControlPlaneApi(app)
    for resource, path, endpoint in ROUTES:
        api.add_resource(resource, path, endpoint=endpoint, strict_slashes=False)
    return api
