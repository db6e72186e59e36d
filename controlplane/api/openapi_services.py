"""The service parts of the OpenAPI document: the service create, update and scale bodies, the
service object, and the service operations, built from the constants the code uses
(`core.service_validation`, `core.servicestate`), like `openapi_schemas` for containers.
"""

from __future__ import annotations

from dataclasses import replace

from controlplane.api.openapi_operations import (
    BAD_REQUEST,
    DANGEROUS,
    INVALID,
    LOGS,
    PAGING,
    TOO_LARGE,
    Operation,
)
from controlplane.api.openapi_schemas import (
    Schema,
    _closed,
    _date,
    component_schemas,
    container,
    container_create,
    integer,
    nullable,
    page,
    ref,
    resource_uri,
    strings,
    whole,
)
from controlplane.api.trees import TUTUM_SERVICE_LOGS_STREAM, route_rules
from controlplane.core import errors, service_validation, validation
from controlplane.core.errors import error_code
from controlplane.core.scheduler import STRATEGIES
from controlplane.core.servicestate import ServiceState, StackState
from controlplane.core.stackfile_yaml import MAX_SERVICES

SERVICE_404 = error_code(errors.ServiceNotFoundError)
SERVICE_REFUSED = error_code(errors.ObjectTransitionRefusedError)
_TARGET = integer(0, service_validation.MAX_TARGET)


def service_create() -> Schema:
    """The body of `POST .../service/`: a container create body under the service API's names
    (`image`), without the container's own name and node, plus the service's fields."""
    base = container_create()["properties"]
    properties = {key: value for key, value in base.items() if key in service_validation.FIELDS}
    link = {
        "type": "object",
        "required": ["to_service"],
        "additionalProperties": False,
        "properties": {
            "to_service": {"type": "string", "description": "a service's resource URI or uuid"},
            "name": nullable({"type": "string", "maxLength": 63}),
            "from_service": {"type": "string"},
        },
    }
    choices = [*STRATEGIES, *service_validation.STRATEGY_ALIASES]
    properties.update(
        {
            "image": base["image_name"],
            "name": base["name"],
            "target_num_containers": nullable(_TARGET),
            "deployment_strategy": nullable(
                {"type": "string", "description": f"in any case: {', '.join(choices)}"}
            ),
            "autoreplace": nullable({"enum": list(validation.AUTORESTART_VALUES)}),
            "sequential_deployment": nullable({"type": "boolean"}),
            "linked_to_service": nullable(
                strings(link) | {"maxItems": service_validation.MAX_LINKS}
            ),
            "tags": base["tags"],
            "roles": nullable({"type": "array", "maxItems": 0}),
            "autoredeploy": nullable({"const": False}),
        }
    )
    return {
        "type": "object",
        "required": ["image"],
        "additionalProperties": False,
        "properties": properties,
    }


def service_update() -> Schema:
    """A PATCH: any create field, at least one; `name` may only be sent unchanged."""
    schema = service_create()
    return {**schema, "required": [], "minProperties": 1}


def service() -> Schema:
    """A service as `service_json.service_to_json` renders it."""
    definition = {
        key: value
        for key, value in container()["properties"].items()
        if key in service_validation.CONTAINER_FIELDS
    }
    link = _closed(
        {
            "from_service": resource_uri("service"),
            "to_service": resource_uri("service"),
            "name": nullable({"type": "string"}),
        }
    )
    count = {"type": "integer", "minimum": 0}
    return _closed(
        {
            **definition,
            "uuid": container()["properties"]["uuid"],
            "resource_uri": resource_uri("service"),
            "image_name": {"type": "string"},
            "image_tag": {"type": "null"},
            "name": {"type": "string"},
            "unique_name": {"type": "string"},
            "state": {"enum": [s.value for s in ServiceState]},
            "synchronized": {"type": "boolean"},
            "public_dns": nullable({"type": "string"}),
            "stack": nullable(resource_uri("stack")),
            "target_num_containers": _TARGET,
            **{f"{which}_num_containers": count for which in ("current", "running", "stopped")},
            "containers": strings(resource_uri("container")),
            "deployment_strategy": {"enum": list(STRATEGIES)},
            "autoreplace": {"enum": list(validation.AUTORESTART_VALUES)},
            "sequential_deployment": {"type": "boolean"},
            "tags": strings(_closed({"name": {"type": "string"}})),
            "roles": {"type": "array", "maxItems": 0},
            "linked_to_service": strings(link),
            "linked_from_service": {"type": "array", "maxItems": 0},
            "link_variables": {"type": "object", "maxProperties": 0},
            **{
                f"{when}_datetime": nullable(_date())
                for when in ("deployed", "started", "stopped", "destroyed")
            },
            "container_ports": container()["properties"]["container_ports"],
        }
    )


def stack() -> Schema:
    """A stack as `service_json.stack_to_json` renders it: its services whole in the Tutum
    tree, as resource URIs in Docker Cloud's."""
    return _closed(
        {
            "uuid": container()["properties"]["uuid"],
            "resource_uri": resource_uri("stack"),
            "name": {"type": "string"},
            "nickname": {"type": "string"},
            "state": {"enum": [s.value for s in StackState]},
            "synchronized": {"type": "boolean"},
            "services": strings({"anyOf": [ref("Service"), resource_uri("service")]}),
            "deployed_datetime": nullable(_date()),
            "destroyed_datetime": nullable(_date()),
        }
    )


def stack_create() -> Schema:
    """A stack's name and services, each a stackfile service (`image`, `command`, `ports`,
    `links` ... docs/api.md §12) or a service create body, with its `name`."""
    service_item = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}},
    }
    return {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": whole(validation.NAME), "maxLength": 255},
            "nickname": {},
            "services": {"type": "array", "maxItems": MAX_SERVICES, "items": service_item},
        },
    }


def schemas() -> dict[str, Schema]:
    log_frame = component_schemas()["LogFrame"]
    return {
        "ServiceLogFrame": {
            **log_frame,
            "required": [*log_frame["required"], "source"],
            "properties": {**log_frame["properties"], "source": {"type": "string"}},
        },
        "Stack": stack(),
        "StackCreate": stack_create(),
        "StackUpdate": {
            **stack_create(),
            "required": ["services"],
            "properties": {**stack_create()["properties"], "name": {}},
        },
        "StackList": page("Stack"),
        "StackFile": {
            "type": "object",
            "additionalProperties": {"type": "object"},
            "description": "service name -> its stackfile options (docs/api.md §12)",
        },
        "Service": service(),
        "ServiceCreate": service_create(),
        "ServiceUpdate": service_update(),
        "ServiceScale": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"target_num_containers": nullable(_TARGET)},
        },
        "ServiceList": page("Service"),
    }


def _service_action(name: str, summary: str, body: str | None = None) -> Operation:
    codes: dict[int, tuple[str, ...]] = {
        404: (SERVICE_404,),
        409: (SERVICE_REFUSED,),
        413: (TOO_LARGE,),
    }
    if body is not None:
        codes[400] = (INVALID,)
    return Operation(name, summary, 202, "Service", codes, body=body, accepted=True)


LIST_SERVICES = Operation(
    "service_list",
    "The caller's services, in creation order; `state` is the derived state",
    200,
    "ServiceList",
    {400: (INVALID,)},
    query=("service_state", "name", "unique_name", "uuid__startswith", "stack", *PAGING),
)
CREATE_SERVICE = Operation(
    "service_create",
    "Create a service in Init; `start` deploys its containers",
    201,
    "Service",
    {
        400: (INVALID,),
        403: (DANGEROUS,),
        413: (TOO_LARGE,),
        415: (error_code(errors.UnsupportedMediaTypeError),),
    },
    body="ServiceCreate",
    accepted=True,
)
GET_SERVICE = Operation("service_get", "One service", 200, "Service", {404: (SERVICE_404,)})
UPDATE_SERVICE = Operation(
    "service_update",
    "Change a service's definition: its containers take it when next (re)deployed",
    200,
    "Service",
    {
        400: (INVALID,),
        403: (DANGEROUS,),
        404: (SERVICE_404,),
        409: (SERVICE_REFUSED,),
        413: (TOO_LARGE,),
        415: (error_code(errors.UnsupportedMediaTypeError),),
    },
    body="ServiceUpdate",
    accepted=True,
)
TERMINATE_SERVICE = _service_action("service_terminate", "Terminate a service and its containers")
START_SERVICE = _service_action("service_start", "Deploy or start a service's containers")
STOP_SERVICE = _service_action("service_stop", "Stop a service's containers")
REDEPLOY_SERVICE = replace(
    _service_action("service_redeploy", "Replace every container, one at a time"),
    query=("reuse_volumes",),
    errors={400: (INVALID,), 404: (SERVICE_404,), 409: (SERVICE_REFUSED,), 413: (TOO_LARGE,)},
)
SCALE_SERVICE = _service_action(
    "service_scale", "Scale to target_num_containers (the body's, or the service's)", "ServiceScale"
)


def _stack_action(name: str, summary: str) -> Operation:
    codes: dict[int, tuple[str, ...]] = {
        404: (STACK_404,),
        409: (SERVICE_REFUSED,),
        413: (TOO_LARGE,),
    }
    return Operation(name, summary, 202, "Stack", codes, accepted=True)


STACK_404 = error_code(errors.StackNotFoundError)
_STACK_BODY_ERRORS: dict[int, tuple[str, ...]] = {
    400: (INVALID,),
    403: (DANGEROUS,),
    413: (TOO_LARGE,),
    415: (error_code(errors.UnsupportedMediaTypeError),),
}
LIST_STACKS = Operation(
    "stack_list",
    "The caller's stacks, in creation order",
    200,
    "StackList",
    {400: (INVALID,)},
    query=("name", "uuid__startswith", *PAGING),
)
CREATE_STACK = Operation(
    "stack_create",
    "Create a stack and all its services in Init, or nothing (docs/api.md §12)",
    201,
    "Stack",
    _STACK_BODY_ERRORS,
    body="StackCreate",
    accepted=True,
)
GET_STACK = Operation("stack_get", "One stack", 200, "Stack", {404: (STACK_404,)})
UPDATE_STACK = Operation(
    "stack_update",
    "Update, add and terminate services so the stack holds those given",
    200,
    "Stack",
    {**_STACK_BODY_ERRORS, 404: (STACK_404,), 409: (SERVICE_REFUSED,)},
    body="StackUpdate",
    accepted=True,
)
EXPORT_STACK = Operation(
    "stack_export", "The stack as a stackfile's mapping", 200, "StackFile", {404: (STACK_404,)}
)


SERVICE_LOGS = replace(
    LOGS,
    name="service_logs",
    summary="Every container's logs, each line led by its container's name; a websocket "
    "handshake here is the service's log stream, each frame with its `source`",
    errors={**LOGS.errors, 404: (SERVICE_404,)},
    query=("tail", "follow"),
    frames="ServiceLogFrame",
)
SERVICE_LOG_STREAM = replace(
    SERVICE_LOGS,
    name="service_log_stream",
    summary="A service's log stream; a plain GET is a 400",
    status=101,
    schema=None,
    errors={**SERVICE_LOGS.errors, 400: (INVALID, BAD_REQUEST)},
)


def service_paths() -> list[tuple[list[str], dict[str, Operation]]]:
    """The service and stack rows of `openapi_operations.path_table`."""
    return [
        (route_rules("stack"), {"get": LIST_STACKS, "post": CREATE_STACK}),
        (
            route_rules("stack", "<uuid>/"),
            {
                "get": GET_STACK,
                "patch": UPDATE_STACK,
                "delete": _stack_action("stack_terminate", "Terminate a stack and its services"),
            },
        ),
        (route_rules("stack", "<uuid>/start/"), {"post": _stack_action("stack_start", "Start")}),
        (route_rules("stack", "<uuid>/stop/"), {"post": _stack_action("stack_stop", "Stop")}),
        (
            route_rules("stack", "<uuid>/redeploy/"),
            {
                "post": replace(
                    _stack_action("stack_redeploy", "Redeploy every service"),
                    query=("reuse_volumes",),
                    errors={400: (INVALID,), 404: (STACK_404,), 409: (SERVICE_REFUSED,)},
                )
            },
        ),
        (route_rules("stack", "<uuid>/export/"), {"get": EXPORT_STACK}),
        (route_rules("service"), {"get": LIST_SERVICES, "post": CREATE_SERVICE}),
        (
            route_rules("service", "<uuid>/"),
            {"get": GET_SERVICE, "patch": UPDATE_SERVICE, "delete": TERMINATE_SERVICE},
        ),
        (route_rules("service", "<uuid>/start/"), {"post": START_SERVICE}),
        (route_rules("service", "<uuid>/stop/"), {"post": STOP_SERVICE}),
        (route_rules("service", "<uuid>/redeploy/"), {"post": REDEPLOY_SERVICE}),
        (route_rules("service", "<uuid>/scale/"), {"post": SCALE_SERVICE}),
        (route_rules("service", "<uuid>/logs/"), {"get": SERVICE_LOGS}),
        ([TUTUM_SERVICE_LOGS_STREAM], {"get": SERVICE_LOG_STREAM}),
    ]
