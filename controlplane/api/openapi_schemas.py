"""The JSON Schemas (2020-12) of the OpenAPI document: every object the API answers with, the
container create body, the list envelope, the error body and the stream frames.

Each schema states what the code really does, from the constants the code itself uses (the
validation limits and patterns, the state enums, the serializers' constants), so the document
cannot promise a limit the server does not keep. Python's patterns are used whole (`whole`):
JSON Schema's `pattern` matches anywhere, and the checks here match the whole value.
Only `controlplane.api.openapi` uses this module.
"""

from __future__ import annotations

import re
from typing import Any

from controlplane.api.params import MAX_AUDIT_BODY
from controlplane.api.serializers import EXEC_END_OUTPUT
from controlplane.api.trees import DOCKERCLOUD, TUTUM
from controlplane.core import checks, validation
from controlplane.core.errors import DangerousOptionForbiddenError, InvalidInputError, error_code
from controlplane.core.lifecycle import ActionState, NodeState, State
from controlplane.core.messages import LABEL_PREFIX, TAG_NAME
from controlplane.db.actions import ACTION_NAMES, OBJECT_ACTION_NAMES
from controlplane.events import CREATE, DELETE, UPDATE

Schema = dict[str, Any]

# The errors whose body names the input it is about (`field`); no other error body has one.
FIELD_ERRORS = (InvalidInputError, DangerousOptionForbiddenError)
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# serializers.format_date: email.utils.format_datetime of a UTC time.
_DATE = (
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} \+0000$"
)


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def whole(pattern: re.Pattern[str] | str) -> str:
    """A Python whole-value pattern as a JSON Schema pattern anchored at both ends, its named
    groups plain ones: ECMA-262 and Python spell those differently, and validators of either
    kind must read it."""
    text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    return "^(?:" + re.sub(r"\(\?P<\w+>", "(?:", text) + ")$"


def nullable(schema: Schema) -> Schema:
    """`schema` or null: a field a create may send as null for its default, or a read field
    that is null until something happens."""
    return {"anyOf": [schema, {"type": "null"}]}


def integer(low: int, high: int) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high}


def strings(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def resource_uri(kind: str) -> Schema:
    """A root-relative URI of `kind` in either tree (docs/api.md §3.7), namespaced where the
    Docker Cloud tree namespaces it."""
    collections = [TUTUM.collections[kind], DOCKERCLOUD.collections[kind]]
    forms = [re.escape(c).replace(re.escape("{ns}"), "(?:[^/]+/)?") for c in collections]
    return {"type": "string", "pattern": f"^(?:{'|'.join(forms)}){_UUID}/$"}


def any_case(word: str) -> str:
    """A pattern of `word` in any case (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def query_bool() -> Schema:
    """A query boolean as `checks.parse_bool` reads it: its words in any case, blanks around."""
    words = sorted(checks.TRUE_WORDS | checks.FALSE_WORDS)
    return {
        "type": "string",
        "pattern": rf"^\s*(?:{'|'.join(any_case(w) for w in words)})?\s*$",
        "examples": ["true", "false"],
    }


def _dns_name(max_length: int) -> Schema:
    label = checks.DNS_LABEL.pattern
    return {"type": "string", "maxLength": max_length, "pattern": whole(rf"{label}(?:\.{label})*")}


def _bytes(limit: int, what: str) -> Schema:
    """Text capped in UTF-8 bytes: `maxLength` bounds the characters only, so the description
    says the rest."""
    return {"type": "string", "maxLength": limit, "description": f"{what}, at most {limit} bytes"}


# --- the create body (core.validation) ---------------------------------------------------------

_MEMORY = integer(*validation.MEMORY_RANGE_MB)
_PORT = integer(*validation.PORT_RANGE)
_PATH = {"type": "string", "pattern": "^/", "maxLength": checks.MAX_PATH_BYTES}


def _choice(values: tuple[str, ...]) -> Schema:
    return nullable({"enum": list(values), "default": values[0]})


def _port_input() -> Schema:
    """A port number, or its decimal digits as a string (what the old CLIs send)."""
    low, high = validation.PORT_RANGE
    digits = "[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]"
    assert (low, high) == (1, 65535), "the pattern spells this range"
    return {"anyOf": [_PORT, {"type": "string", "pattern": f"^(?=[0-9]{{1,5}}$)0*(?:{digits})$"}]}


def _create_ports() -> Schema:
    port = {
        "type": "object",
        "required": ["inner_port"],
        "additionalProperties": False,
        "properties": {
            "protocol": _choice(validation.PROTOCOLS),
            "inner_port": _port_input(),
            "outer_port": nullable(_port_input()),
            "published": nullable({"type": "boolean", "default": True}),
        },
    }
    return nullable(strings(port))


def _create_bindings() -> Schema:
    binding = {
        "type": "object",
        "required": ["container_path"],
        "additionalProperties": False,
        "properties": {
            "host_path": nullable(_PATH),
            "container_path": {**_PATH, "not": {"const": "/"}},
            "rewritable": nullable({"type": "boolean", "default": True}),
            "volume": nullable({"type": "string", "pattern": whole(validation.VOLUME_NAME)}),
        },
    }
    return nullable(strings(binding))


def _create_envvars() -> Schema:
    variable = {
        "type": "object",
        "required": ["key", "value"],
        "additionalProperties": False,
        "properties": {
            "key": {"type": "string", "pattern": whole(validation.ENV_KEY)},
            "value": _bytes(validation.MAX_ITEM_BYTES, "the value"),
        },
    }
    return nullable({**strings(variable), "maxItems": validation.MAX_ENVVARS})


def _labels() -> Schema:
    """Labels; null is refused (unlike every other optional field), as the code does."""
    return {
        "type": "object",
        "maxProperties": validation.MAX_LABELS,
        "propertyNames": {
            "minLength": 1,
            "maxLength": validation.MAX_ITEM_BYTES,
            "not": {"pattern": "^" + re.escape(LABEL_PREFIX)},
        },
        "additionalProperties": _bytes(validation.MAX_ITEM_BYTES, "a label value"),
        "description": f"at most {validation.MAX_MAPPING_BYTES} bytes of keys and values together",
    }


def container_create() -> Schema:
    """The body of `POST .../container/` (docs/api.md §3.4, §3.10). Unknown fields are refused
    (400), so the object is closed; null takes a field's default, except for `labels`."""
    flag = nullable({"type": "boolean", "default": False})
    command = nullable(_bytes(validation.MAX_COMMAND_BYTES, "a command line, split like a shell"))
    names = "|".join(any_case(name) for name in sorted(validation.CAPABILITIES))
    capabilities = nullable(
        strings({"type": "string", "pattern": f"^(?:{any_case('CAP_')})?(?:{names})$"})
    )
    properties: Schema = {
        "image_name": {
            "type": "string",
            "minLength": 1,
            "maxLength": validation.MAX_IMAGE_NAME,
            "pattern": whole(validation.IMAGE_REFERENCE),
        },
        "name": nullable(
            {
                "type": "string",
                "maxLength": validation.MAX_NAME_LENGTH,
                "pattern": whole(validation.NAME),
            }
        ),
        "run_command": command,
        "entrypoint": command,
        "container_envvars": _create_envvars(),
        "container_ports": _create_ports(),
        "labels": nullable(_labels()),
        "working_dir": nullable({"anyOf": [{"const": ""}, _PATH]}),
        "memory": nullable(_MEMORY),
        "memory_swap": nullable({"anyOf": [{"const": validation.UNLIMITED_SWAP}, _MEMORY]}),
        "cpu_shares": nullable(integer(*validation.CPU_SHARES_RANGE)),
        "cpuset": nullable(
            {
                "type": "string",
                "maxLength": validation.MAX_CPUSET,
                "pattern": f"^$|{whole(validation.CPUSET)}",
            }
        ),
        "user": nullable(
            {
                "type": "string",
                "maxLength": validation.MAX_USER,
                "pattern": f"^$|{whole(validation.USER_SPEC)}",
            }
        ),
        "hostname": nullable({"anyOf": [{"const": ""}, _dns_name(validation.MAX_UTS_NAME)]}),
        "domainname": nullable({"anyOf": [{"const": ""}, _dns_name(validation.MAX_UTS_NAME)]}),
        "mac_address": nullable(
            {"type": "string", "pattern": f"^$|{whole(validation.MAC_ADDRESS)}"}
        ),
        **{name: flag for name in ("tty", "stdin_open", "read_only", "privileged")},
        "dns": nullable(
            strings({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})
        ),
        "dns_search": nullable(strings(_dns_name(253))),
        "extra_hosts": nullable(strings({"type": "string", "pattern": "^[^:]+:.+$"})),
        "net": _choice(validation.NET_MODES),
        "pid": _choice(validation.PID_MODES),
        "cap_add": capabilities,
        "cap_drop": capabilities,
        # Docker's host_path[:container_path[:rwm]].
        "devices": nullable(
            strings({"type": "string", "pattern": "^/[^:]*(?::/[^:]*(?::[rwm]+)?)?$"})
        ),
        "security_opt": nullable(strings({"type": "string"})),
        "bindings": _create_bindings(),
        "autorestart": _choice(validation.AUTORESTART_VALUES),
        "autodestroy": _choice(validation.AUTODESTROY_VALUES),
        "node": nullable(
            {"type": "string", "description": "a node's resource URI in either tree, or its uuid"}
        ),
        "tags": nullable(
            strings(
                {
                    "anyOf": [
                        {"type": "string", "pattern": whole(TAG_NAME)},
                        {
                            "type": "object",
                            "required": ["name"],
                            "additionalProperties": False,
                            "properties": {"name": {"type": "string", "pattern": whole(TAG_NAME)}},
                        },
                    ]
                }
            )
        ),
    }
    return {
        "type": "object",
        "required": ["image_name"],
        "additionalProperties": False,
        "properties": properties,
        "description": "security_opt keys: " + ", ".join(validation.SECURITY_OPT_KEYS),
    }


# --- what the serializers emit (api.serializers) -----------------------------------------------


def _closed(properties: Schema) -> Schema:
    """An object with exactly these keys: the serializers always emit every one of them."""
    return {
        "type": "object",
        "required": list(properties),
        "additionalProperties": False,
        "properties": properties,
    }


def _date() -> Schema:
    return {"type": "string", "pattern": _DATE}


def container() -> Schema:
    """A container as `serializers.container_to_json` renders it (docs/api.md §3.4)."""
    text = {"type": "string"}
    port = _closed(
        {
            "protocol": {"enum": list(validation.PROTOCOLS)},
            "inner_port": _PORT,
            "outer_port": nullable(_PORT),
            "published": {"type": "boolean"},
            "port_name": {"const": ""},
            "uri_protocol": {"enum": list(validation.PROTOCOLS)},
            "endpoint_uri": nullable(text),
        }
    )
    binding = _closed(
        {
            "host_path": nullable(text),
            "container_path": text,
            "rewritable": {"type": "boolean"},
            "volume": nullable(text),
        }
    )
    variable = _closed({"key": text, "value": text})
    return _closed(
        {
            "uuid": {"type": "string", "pattern": f"^{_UUID}$"},
            "resource_uri": resource_uri("container"),
            "image_name": text,
            "image_tag": {"type": "null"},
            "name": text,
            "unique_name": text,
            "state": {"enum": [s.value for s in State]},
            "synchronized": {"type": "boolean"},
            "node": resource_uri("node"),
            "service": nullable(resource_uri("service")),
            # The name of its node, whose DNS name it is by convention (docs/api.md §3.4).
            "public_dns": {"type": "string"},
            "private_ip": {"const": ""},
            "exit_code": nullable({"type": "integer"}),
            "exit_code_msg": nullable(text),
            "paused": {"type": "boolean"},
            **{
                f"{when}_datetime": nullable(_date())
                for when in ("deployed", "started", "stopped", "destroyed")
            },
            "run_command": nullable(text),
            "entrypoint": text,
            "working_dir": text,
            "container_envvars": strings(variable),
            "labels": {"type": "object", "additionalProperties": text},
            "memory": nullable({"type": "integer"}),
            "memory_swap": nullable({"type": "integer"}),
            "cpu_shares": nullable({"type": "integer"}),
            **{name: text for name in ("cpuset", "user", "hostname", "domainname", "mac_address")},
            **{
                name: {"type": "boolean"}
                for name in ("tty", "stdin_open", "read_only", "privileged")
            },
            **{
                name: strings(text)
                for name in (
                    "dns",
                    "dns_search",
                    "extra_hosts",
                    "cap_add",
                    "cap_drop",
                    "devices",
                    "security_opt",
                )
            },
            "net": {"enum": list(validation.NET_MODES)},
            "pid": {"enum": list(validation.PID_MODES)},
            "bindings": strings(binding),
            "autorestart": {"enum": list(validation.AUTORESTART_VALUES)},
            "autodestroy": {"enum": list(validation.AUTODESTROY_VALUES)},
            "container_ports": strings(port),
            "roles": {"type": "array", "maxItems": 0},
            "linked_to_container": {"type": "array", "maxItems": 0},
            "link_variables": {"type": "object", "maxProperties": 0},
        }
    )


def action() -> Schema:
    """An action as `serializers.action_to_json` renders it (docs/api.md §3.5)."""
    text = {"type": "string"}
    return _closed(
        {
            "uuid": {"type": "string", "pattern": f"^{_UUID}$"},
            "resource_uri": resource_uri("action"),
            "object": {"anyOf": [resource_uri(kind) for kind in ("container", "service", "stack")]},
            "action": {"enum": sorted({*ACTION_NAMES.values(), *OBJECT_ACTION_NAMES})},
            "method": text,
            "path": text,
            "user_agent": text,
            "ip": text,
            "location": {"const": ""},
            "body": {"type": "string", "maxLength": MAX_AUDIT_BODY},
            "state": {"enum": [s.value for s in ActionState]},
            "reason": nullable(text),
            "start_date": _date(),
            "end_date": nullable(_date()),
            "user": text,
            "is_user_action": {"const": True},
            "can_be_canceled": {"type": "boolean"},
            "can_be_retried": {"type": "boolean"},
        }
    )


def node() -> Schema:
    """A node as `serializers.node_to_json` renders it (docs/api.md §3.6)."""
    count = {"type": "integer", "minimum": 0}
    return _closed(
        {
            "uuid": {"type": "string", "pattern": f"^{_UUID}$"},
            "resource_uri": resource_uri("node"),
            "nickname": {"type": "string"},
            "external_fqdn": {"type": "string"},
            "state": {"enum": [s.value for s in NodeState]},
            "docker_version": {"type": "string"},
            "cpu": count,
            "memory": count,
            "disk": count,
            "current_num_containers": count,
            "last_seen": _date(),
            "deployed_datetime": _date(),
            "destroyed_datetime": {"type": "null"},
            "tags": strings(_closed({"name": {"type": "string"}})),
            **{
                name: {"type": "null"}
                for name in ("node_cluster", "node_type", "region", "availability_zone")
            },
        }
    )


def page(item: str) -> Schema:
    """The list envelope of `serializers.page_to_json` (docs/api.md §3.1) holding `item`s."""
    link = nullable({"type": "string", "pattern": "^/"})
    meta = _closed(
        {
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
            "total_count": {"type": "integer", "minimum": 0},
            "next": link,
            "previous": link,
        }
    )
    return _closed({"meta": meta, "objects": strings(ref(item))})


def error() -> Schema:
    """The error body of `errors.error_response` (docs/api.md §5.1): `field` exactly when the
    error is about one input."""
    return {
        "type": "object",
        "required": ["error", "code"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string", "minLength": 1},
            "code": {"type": "string"},
            "field": {"type": "string"},
        },
        "if": {"properties": {"code": {"enum": [error_code(e) for e in FIELD_ERRORS]}}},
        "then": {"required": ["field"]},
        "else": {"not": {"required": ["field"]}},
    }


def internal_error() -> Schema:
    return _closed({"error": {"type": "string"}, "correlation_id": {"type": "string"}})


def event(*, with_identity: bool) -> Schema:
    """An events-stream frame (docs/api.md §7.1); Docker Cloud's carry their uuid and date."""
    uri = {"type": "string", "pattern": "^/api/"}
    properties: Schema = {
        "type": {"enum": ["container", "action", "node"]},
        "action": {"enum": [CREATE, UPDATE, DELETE]},
        "state": {"type": "string"},
        "resource_uri": uri,
        "parents": strings(uri),
    }
    if with_identity:
        properties |= {"uuid": {"type": "string"}, "datetime": {"type": "string"}}
    return _closed(properties)


def exec_frames() -> dict[str, Schema]:
    """The frames of an exec (docs/api.md §6.6): output, then its exit or its error, the last
    two with the `output` "EOF" the Go SDKs wait for (`serializers.EXEC_END_OUTPUT`)."""
    end = {"const": EXEC_END_OUTPUT}
    error_data: Schema = {
        "type": "object",
        "required": ["errorMessage", "code"],
        "additionalProperties": False,
        "properties": {
            "errorMessage": {"type": "string"},
            "code": {"type": "string"},
            "field": {"type": "string"},
        },
    }
    return {
        "ExecOutputFrame": _closed(
            {
                "type": {"const": "output"},
                "output": {"type": "string"},
                "streamType": {"enum": ["stdout", "stderr"]},
            }
        ),
        "ExecExitFrame": _closed(
            {"type": {"const": "exit"}, "exitCode": {"type": "integer"}, "output": end}
        ),
        "ExecErrorFrame": _closed({"type": {"const": "error"}, "data": error_data, "output": end}),
        "ExecFrame": {
            "oneOf": [ref("ExecOutputFrame"), ref("ExecExitFrame"), ref("ExecErrorFrame")]
        },
    }


def component_schemas() -> dict[str, Schema]:
    """Every named schema of the document."""
    return {
        "Container": container(),
        "ContainerCreate": container_create(),
        "Action": action(),
        "Node": node(),
        "ContainerList": page("Container"),
        "ActionList": page("Action"),
        "NodeList": page("Node"),
        "Credential": _closed({"username": {"type": "string"}}),
        "CredentialCheck": page("Credential"),
        "Logs": _closed({"logs": {"type": "string"}}),
        "Error": error(),
        "InternalError": internal_error(),
        "Liveness": _closed({"status": {"const": "alive"}}),
        "Readiness": _closed(
            {
                "status": {"const": "ready"},
                "checks": _closed({"database": {"const": "ok"}, "broker": {"const": "ok"}}),
            }
        ),
        "LogFrame": _closed(
            {
                "type": {"const": "log"},
                "log": {"type": "string"},
                "streamType": {"enum": ["stdout", "stderr"]},
                "timestamp": {"type": "integer"},
            }
        ),
        "TutumEvent": event(with_identity=False),
        "DockerCloudEvent": event(with_identity=True),
        "UnauthorizedFrame": {"const": {"type": "error", "data": {"errorMessage": "UNAUTHORIZED"}}},
        **exec_frames(),
    }
