"""The OpenAPI 3.1 document of the API, served without credentials at `GET /api/openapi.json`
(docs/api.md §11), so a client or a fuzzer can read the contract before it has a key.

It is rendered from the operations of `openapi_operations` and the schemas of `openapi_schemas`
with the serving app's own settings (page sizes, body limit), so it describes the
server it comes from. tests/unit/test_openapi.py checks it against the app's `url_map` and
against real answers: a route added or changed without it fails there.

Every operation lists every status it can answer, each error with the `code`s it may carry. A
500 is listed nowhere, since it is always a bug (its body is `InternalError`); what a path or a
method that is not served answers is under `x-unserved`. Every GET also answers HEAD, as
Werkzeug does, with the GET's status and headers and no body; HEAD is not listed.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, current_app
from flask_restful import Resource
from werkzeug.http import HTTP_STATUS_CODES

from controlplane import __version__
from controlplane.api.base import services
from controlplane.api.openapi_operations import (
    INVALID,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHENTICATED,
    Operation,
    path_table,
)
from controlplane.api.openapi_schemas import Schema, component_schemas, integer, query_bool, ref
from controlplane.api.openapi_services import schemas as service_schemas
from controlplane.api.openapi_services import service_paths
from controlplane.api.params import MAX_LOG_TAIL, MAX_OFFSET
from controlplane.api.trees import tree_of
from controlplane.core import errors
from controlplane.core.commands import MAX_COMMAND_BYTES
from controlplane.core.errors import error_code
from controlplane.core.lifecycle import NODE_STATE_FILTERS, ActionState, State
from controlplane.core.servicestate import ServiceState
from controlplane.settings import Settings

JSON = "application/json"
_RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_DESCRIPTION = """\
The container API of Tutum and Docker Cloud as this control plane serves it (docs/api.md).

- Every path also answers without its trailing slash; nothing redirects (§1.4).
- Every GET also answers HEAD: the same status and headers, no body.
- Query parameters not listed are ignored; a NUL in any of them is a 400 (§1.5).
- A body, where one is read, is at most {max_body} bytes (413), JSON sent as application/json
  (415; an empty body is an empty object).
- Strings must hold no NUL and no lone surrogate (400). Patterns match the whole value.
- A 500 is a bug; its body is `InternalError`. `x-unserved` gives what an unserved path (404;
  a path with an empty segment or a NUL is one, whatever the method) or method (405, OPTIONS
  included) answers; `x-server` what the HTTP server answers any
  request it refuses before routing (its `code` the status name: `bad request` ...).
- A websocket handshake on a path with a 101 answer is the stream; each text frame is the JSON
  object of the answer's `x-frames`."""


def build_document(app: Flask) -> dict[str, Any]:
    """The document for `app`, from its settings and its body limit."""
    settings: Settings = services().settings
    paths: dict[str, dict[str, Any]] = {}
    for rules, operations in [*path_table(app), *service_paths()]:
        for rule in rules:
            paths[template(rule)] = {
                method: operation_object(op, rule) for method, op in operations.items()
            }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "controlplane",
            "version": __version__,
            "description": _DESCRIPTION.format(max_body=app.config["MAX_CONTENT_LENGTH"]),
        },
        "paths": paths,
        "components": {
            "schemas": {**component_schemas(), **service_schemas()},
            "parameters": parameters(settings),
            "responses": {
                "NotFound": error_answer(404, [NOT_FOUND]),
                "MethodNotAllowed": _with_allow(error_answer(405, [METHOD_NOT_ALLOWED])),
                "InternalError": {
                    "description": "A bug; the correlation id is in the API's log",
                    "content": {JSON: {"schema": ref("InternalError")}},
                },
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
        "x-unserved": {
            "path": {"$ref": "#/components/responses/NotFound"},
            "method": {"$ref": "#/components/responses/MethodNotAllowed"},
        },
        "x-server": {
            str(status): error_answer(status, [HTTP_STATUS_CODES[status].lower()])
            for status in SERVER_STATUSES
        },
    }


# What the HTTP server itself answers, to any request, before routing (controlplane.httpserver):
# a head it cannot parse (400), a request not whole within the read deadline (408), a
# Transfer-Encoding (411), a declared body over the limit (413), a request line or head over
# gunicorn's limits (414, 431), a poller out of room for bodies (503). The `code` is the
# status's name in lower case.
SERVER_STATUSES = (400, 408, 411, 413, 414, 431, 503)


SECURITY_SCHEMES = {
    "basic": {"type": "http", "scheme": "basic", "description": "user:key (an API key)"},
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`ApiKey <user>:<key>`; the scheme in any case (docs/api.md §2.1)",
    },
    "authQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "auth",
        "description": "stream handshakes only: a whole Authorization value, URL-encoded",
    },
    "userQuery": {"type": "apiKey", "in": "query", "name": "user", "description": "streams only"},
    "tokenQuery": {"type": "apiKey", "in": "query", "name": "token", "description": "an API key"},
}


def template(rule: str) -> str:
    """A Flask rule as an OpenAPI path template: `<uuid>` is `{uuid}`."""
    return _RULE_ARGUMENT.sub(r"{\1}", rule)


def operation_object(op: Operation, rule: str) -> dict[str, Any]:
    """The OpenAPI operation of `op` on `rule`, with the answers its kind adds: 400 for a NUL
    in the query (every route), 401 where credentials are needed, the namespace's 404 on a
    namespaced path, the plain 404 of a NUL in a path segment, and the stream slots' 429 and
    503 on a stream."""
    tree = tree_of(rule)
    namespaced = "<namespace>" in rule
    codes: dict[int, list[str]] = {status: list(found) for status, found in op.errors.items()}
    added = [(400, INVALID)]
    if op.security is not None and {} not in op.security:
        added.append((401, UNAUTHENTICATED))
    if namespaced:
        added.append((404, error_code(errors.NamespaceNotFoundError)))
    if _RULE_ARGUMENT.search(rule):
        # A path segment with a NUL names nothing (api.params.refuse_unservable_path).
        added.append((404, NOT_FOUND))
    if op.frames is not None:
        added += [
            (429, error_code(errors.UserStreamCapacityError)),
            (503, error_code(errors.StreamCapacityError)),
        ]
    for status, code in added:
        if code not in codes.setdefault(status, []):
            codes[status].append(code)
    prefix = f"{tree.name}{'_ns' if namespaced else ''}_" if op.in_tree else ""
    result: dict[str, Any] = {
        "operationId": prefix + op.name,
        "summary": op.summary,
        "parameters": [
            *(_parameter(f"path_{name}") for name in _RULE_ARGUMENT.findall(rule)),
            *(_parameter(name) for name in op.query),
        ],
        "responses": {
            **success_answers(op, tree.action_header),
            **{str(status): error_answer(status, found) for status, found in sorted(codes.items())},
        },
        "security": op.security or [],
    }
    if op.body is not None:
        result["requestBody"] = {"required": True, "content": {JSON: {"schema": ref(op.body)}}}
    return result


def _parameter(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def success_answers(op: Operation, action_header: str) -> dict[str, Any]:
    """The 101 of a stream and the success answer, with its action header when it has one."""
    answers: dict[str, Any] = {}
    if op.frames is not None:
        answers["101"] = {
            "description": "Switching Protocols: the stream; each text frame is an `x-frames`",
            "x-frames": ref(op.frames),
        }
    if op.status == 101 or op.status >= 400:
        return answers
    answer: dict[str, Any] = {"description": HTTP_STATUS_CODES[op.status]}
    if op.text_type is not None:
        answer["content"] = {op.text_type: {"schema": {"type": "string"}}}
    else:
        answer["content"] = {JSON: {"schema": ref(op.schema) if op.schema else {"type": "object"}}}
    if op.accepted:
        answer["headers"] = {
            action_header: {
                "description": "The resource URI of the request's Action (docs/api.md §4.2)",
                "required": True,
                "schema": {"type": "string", "pattern": "^/api/"},
            }
        }
    answers[str(op.status)] = answer
    return answers


def error_answer(status: int, codes: list[str]) -> dict[str, Any]:
    """An error answer whose body is an `Error` with one of `codes`, with the headers its
    status carries (docs/api.md §5)."""
    answer: dict[str, Any] = {
        "description": f"{HTTP_STATUS_CODES[status]}: {', '.join(codes)}",
        "content": {JSON: {"schema": {**ref("Error"), "properties": {"code": {"enum": codes}}}}},
    }
    headers: dict[str, Any] = {}
    if status == 401:
        headers["WWW-Authenticate"] = {
            "required": True,
            "schema": {"const": 'Basic realm="controlplane"'},
        }
    if RATE_LIMITED in codes:
        headers["Retry-After"] = {
            "description": f"with {RATE_LIMITED}: the seconds until the minute turns",
            "required": codes == [RATE_LIMITED],
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    if headers:
        answer["headers"] = headers
    return answer


def _with_allow(answer: dict[str, Any]) -> dict[str, Any]:
    allow = {"description": "the methods the path serves", "schema": {"type": "string"}}
    return {**answer, "headers": {"Allow": {**allow, "required": True}}}


def parameters(settings: Settings) -> dict[str, Any]:
    """Every path and query parameter, by the name operations refer to it by (path ones are
    `path_<name>`, since `uuid` is also a list filter)."""

    def path(name: str, pattern: str, description: str) -> dict[str, Any]:
        schema = {"type": "string", "pattern": pattern}
        return {
            "name": name,
            "in": "path",
            "required": True,
            "schema": schema,
            "description": description,
        }

    def query(name: str, schema: Schema, description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "schema": schema, "description": description}

    def state(states: list[str]) -> dict[str, Any]:
        return query("state", {"enum": states}, "exactly this state; any other is a 400")

    text = {"type": "string"}
    date = "a bound, in ISO 8601 or the API's own date form; anything else is a 400"
    return {
        "path_uuid": path("uuid", "^[^/]+$", "the object's uuid; anything else is a 404"),
        "path_namespace": path("namespace", "^[^/]+$", "the caller's user name; another is a 404"),
        "limit": query(
            "limit",
            {**integer(1, settings.max_page_size), "default": settings.page_size},
            "objects per page; a page past its byte budget is cut short (docs/api.md §3.1)",
        ),
        "offset": query("offset", {**integer(0, MAX_OFFSET), "default": 0}, "objects to skip"),
        "container_state": state([s.value for s in State]),
        "service_state": state([s.value for s in ServiceState]),
        "stack": query("stack", text, "a stack's resource URI in either tree, or its uuid"),
        "action_state": state([s.value for s in ActionState]),
        "node_state": state(list(NODE_STATE_FILTERS)),
        "tail": query("tail", integer(0, MAX_LOG_TAIL), "only the last lines; all when absent"),
        "follow": query("follow", query_bool(), "streams only: keep following (default true)"),
        "command": query(
            "command",
            {**text, "maxLength": MAX_COMMAND_BYTES},
            "required: the command line to run, split as a POSIX shell splits words; at most "
            f"{MAX_COMMAND_BYTES} bytes in UTF-8 (docs/api.md §6.5); a missing or bad one is an "
            "error frame on the open socket",
        ),
        "reuse_volumes": query("reuse_volumes", query_bool(), "keep the volumes (default true)"),
        "node": query("node", text, "a node's resource URI in either tree, or its uuid"),
        "object": query("object", text, "a container's resource URI in either tree, or uuid"),
        "uuid": query("uuid", text, "exactly this uuid"),
        "uuid__startswith": query("uuid__startswith", text, "a uuid prefix, in any case"),
        "name": query("name", text, "exactly this name"),
        "unique_name": query("unique_name", text, "exactly this unique name"),
        "service": query("service", text, "a service's resource URI in either tree, or uuid"),
        "service__stack__name": query("service__stack__name", text, "its service's stack name"),
        **{
            name: query(name, text, date)
            for name in ("start_date__gte", "start_date__lte", "end_date__gte", "end_date__lte")
        },
    }


class OpenApiResource(Resource):
    """`GET /api/openapi.json`: no credentials, since the document is what a client reads to
    learn how to send them."""

    def get(self) -> dict[str, Any]:
        return build_document(current_app)
