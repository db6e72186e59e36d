"""The OpenAPI document (`GET /api/openapi.json`, docs/api.md §11) keeps up with the app: it lists
exactly the routes the app serves, it is a well-formed OpenAPI 3.1 document whose schemas are
valid JSON Schema, and real answers of the app, successes and errors of every kind, have the
status and the body it documents."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from controlplane.app import create_app
from controlplane.core.lifecycle import Action, NodeState
from controlplane.db.models import Node
from controlplane.settings import Settings
from tests.support.openapi import resolve, validate_answer
from tests.unit.helpers import UNKNOWN_UUID, Account, accept

OPENAPI = "/api/openapi.json"
JSON = "application/json"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
HANDSHAKE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "MDEyMzQ1Njc4OWFiY2RlZg==",
    "Sec-WebSocket-Version": "13",
}
# Every field a create takes, with values the validation accepts (docs/api.md §3.4).
EVERY_FIELD = {
    "image_name": "registry.example:5000/team/web:1.2@sha256:" + "0" * 64,
    "name": "web.1",
    "run_command": "sh -c 'echo hi'",
    "entrypoint": "/bin/sh",
    "container_envvars": [{"key": "A_1", "value": "b"}],
    "container_ports": [
        {"inner_port": 80},
        {"protocol": "udp", "inner_port": 53, "outer_port": 5353, "published": True},
    ],
    "labels": {"team": "web"},
    "working_dir": "/srv",
    "memory": 64,
    "memory_swap": -1,
    "cpu_shares": 512,
    "cpuset": "0-1",
    "user": "1000:1000",
    "hostname": "web",
    "domainname": "example.org",
    "mac_address": "02:42:ac:11:00:02",
    "tty": True,
    "stdin_open": False,
    "read_only": None,
    "privileged": False,
    "dns": ["1.1.1.1"],
    "dns_search": ["example.org"],
    "extra_hosts": ["db:10.0.0.2"],
    "net": "bridge",
    "pid": None,
    "cap_drop": ["cap_net_raw"],
    "security_opt": ["no-new-privileges"],
    "bindings": [{"container_path": "/data", "volume": "data"}, {"container_path": "/tmp/x"}],
    "autorestart": "ON_FAILURE",
    "autodestroy": "OFF",
    "tags": [{"name": "ssd"}],
}


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get(OPENAPI)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    result: dict[str, Any] = response.get_json()
    return result


@pytest.fixture
def answer(client: FlaskClient, document: dict[str, Any]) -> Callable[..., TestResponse]:
    """Call the app and check its answer against the document: `answer(status, method,
    template, path, ...)`, where `template` is the documented path (None for an unserved one)
    and `status` the one the test expects."""

    def call(
        status: int, method: str, path_template: str | None, path: str, **kwargs: Any
    ) -> TestResponse:
        response = client.open(path, method=method, **kwargs)
        text = response.get_data(as_text=True)
        assert response.status_code == status, text
        body = json.loads(text) if text else None
        validate_answer(document, method, path_template, response.status_code, body)
        return response

    return call


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


# --- the document lists the app's routes -----------------------------------------------------


def served_routes(app: Flask) -> set[tuple[str, str]]:
    """(path template, method) of every rule, HEAD left out: Werkzeug answers it on exactly the
    rules that answer GET (checked here), as the GET without its body."""
    routes = set()
    for rule in app.url_map.iter_rules():
        methods = rule.methods or set()
        assert ("HEAD" in methods) == ("GET" in methods), rule
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {(path, method.lower()) for method in methods - {"HEAD"}}
    return routes


def test_the_document_lists_exactly_the_routes_and_methods_the_app_serves(
    app: Flask, document: dict[str, Any]
) -> None:
    documented = {(path, method) for path, method, _ in operations(document)}
    assert documented == served_routes(app)


def test_the_paths_that_take_a_websocket_handshake_document_its_101(
    app: Flask, document: dict[str, Any]
) -> None:
    sockets = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.websocket
    }
    upgrades = {path for path, _, op in operations(document) if "101" in op["responses"]}
    assert upgrades == sockets


def test_the_document_follows_the_app_settings(client: FlaskClient, app: Flask) -> None:
    settings = app.extensions["controlplane"].settings
    limit = client.get(OPENAPI).get_json()["components"]["parameters"]["limit"]["schema"]
    assert (limit["default"], limit["maximum"]) == (settings.page_size, settings.max_page_size)


# --- the document is well formed -------------------------------------------------------------


def schemas(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, schema) of every JSON Schema in the document: the components, and every
    parameter, body, header and frame schema."""
    for name, schema in document["components"]["schemas"].items():
        yield f"components/schemas/{name}", schema

    def walk(node: Any, where: str) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in {"schema", "x-frames"}:
                    yield f"{where}/{key}", value
                elif key != "schemas":
                    yield from walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{where}/{index}")

    yield from walk(document, "")


def test_every_schema_of_the_document_is_a_valid_json_schema(document: dict[str, Any]) -> None:
    found = list(schemas(document))
    assert len(found) > 100
    for _, schema in found:
        Draft202012Validator.check_schema(schema)


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_every_ref_of_the_document_resolves(document: dict[str, Any]) -> None:
    found = set(refs(document))
    assert "#/components/schemas/Container" in found
    for pointer in found:
        assert pointer.startswith("#/")
        resolve(document, pointer.removeprefix("#"))


def test_the_document_is_an_openapi_3_1_document(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"title", "version"} <= set(document["info"])
    schemes = document["components"]["securitySchemes"]
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    for path, method, op in operations(document):
        assert method in HTTP_METHODS
        assert op["responses"] and all(re.fullmatch(r"[1-5][0-9][0-9]", s) for s in op["responses"])
        assert any(status.startswith("4") for status in op["responses"]), (path, method)
        for requirement in op["security"]:
            assert set(requirement) <= set(schemes)
        declared = {
            resolve(document, p["$ref"].removeprefix("#"))["name"]
            for p in op["parameters"]
            if resolve(document, p["$ref"].removeprefix("#"))["in"] == "path"
        }
        assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
    for parameter in document["components"]["parameters"].values():
        assert parameter["in"] in {"path", "query"}
        assert parameter.get("required", False) == (parameter["in"] == "path")


# --- the served document ---------------------------------------------------------------------


def test_the_document_is_served_as_json_without_credentials(
    answer: Callable[..., TestResponse],
) -> None:
    response = answer(200, "GET", OPENAPI, OPENAPI)
    assert response.mimetype == "application/json"
    assert answer(200, "GET", OPENAPI, OPENAPI + "/").get_json()["openapi"] == "3.1.0"
    answer(400, "GET", OPENAPI, OPENAPI + "?x=%00")
    answer(405, "POST", OPENAPI, OPENAPI)


def test_head_answers_as_the_get_without_a_body(client: FlaskClient) -> None:
    response = client.head(OPENAPI)
    assert (response.status_code, response.mimetype, response.data) == (200, JSON, b"")


def test_the_checker_refuses_an_undocumented_status_or_a_wrong_body(
    document: dict[str, Any],
) -> None:
    with pytest.raises(AssertionError):
        validate_answer(document, "GET", CONTAINER, 418, {"error": "teapot", "code": "teapot"})
    with pytest.raises(ValidationError):
        validate_answer(document, "GET", CONTAINER, 200, {"uuid": UNKNOWN_UUID})
    with pytest.raises(ValidationError):
        validate_answer(document, "GET", CONTAINER, 404, {"error": "gone", "code": "gone-error"})
    with pytest.raises(AssertionError):
        validate_answer(document, "PUT", CONTAINER, 200, {})
    with pytest.raises(AssertionError):
        validate_answer(document, "GET", None, 200, {})


# --- real answers match it -------------------------------------------------------------------

CONTAINERS = "/api/v1/container/"
CONTAINER = "/api/v1/container/{uuid}/"


def test_containers_created_and_read_in_either_tree_match_the_document(
    answer: Callable[..., TestResponse], account: Account, register_node: Callable[..., str]
) -> None:
    node = register_node(tags=["ssd"])
    auth = {"headers": account.headers}
    created = answer(201, "POST", CONTAINERS, CONTAINERS, json=EVERY_FIELD, **auth)
    assert created.headers["X-Tutum-Action-URI"].startswith("/api/v1/action/")
    uuid = created.get_json()["uuid"]
    for collection in ("/api/app/v1/container/", "/api/app/v1/{namespace}/container/"):
        path = collection.replace("{namespace}", account.username)
        answer(201, "POST", collection, path, json={"image_name": "busybox"}, **auth)
        answer(200, "GET", collection, path + "?state=Init&limit=1", **auth)
        answer(200, "GET", collection + "{uuid}/", f"{path}{uuid}/", **auth)
    answer(200, "GET", CONTAINERS, CONTAINERS + f"?node={node}&uuid__startswith=0", **auth)
    answer(200, "GET", CONTAINER, f"{CONTAINERS}{uuid}/", **auth)
    answer(200, "GET", CONTAINER + "logs/", f"{CONTAINERS}{uuid}/logs/?tail=5", **auth)


def test_the_create_schema_takes_every_field_and_refuses_what_the_validation_refuses(
    document: dict[str, Any],
) -> None:
    validator = Draft202012Validator(document["components"]["schemas"]["ContainerCreate"])
    validator.validate(EVERY_FIELD)
    for refused in (
        {"name": "web"},
        {"image_name": "busybox", "nmae": "typo"},
        {"image_name": "busybox", "labels": {"io.controlplane.node_uuid": "x"}},
        {"image_name": "busybox", "memory": 5},
        {"image_name": "busybox", "cap_add": ["NET_ADMIM"]},
        {"image_name": "busybox", "container_ports": [{"inner_port": 0}]},
    ):
        assert not validator.is_valid(refused), refused


@pytest.mark.parametrize(
    ("status", "request_body"),
    [
        (400, {"json": {"image_name": "busybox", "nmae": "typo"}}),
        (400, {"json": {"image_name": "busybox", "labels": {"": "x"}}}),
        (400, {"json": {"image_name": "Not An Image"}}),
        (400, {"data": "{", "content_type": "application/json"}),
        (400, {"json": ["image_name"]}),
        (403, {"json": {"image_name": "busybox", "privileged": True}}),
        (413, {"data": " " * (1024 * 1024 + 1), "content_type": "application/json"}),
        (415, {"data": "image_name=busybox", "content_type": "text/plain"}),
    ],
)
def test_a_refused_create_matches_the_document(
    answer: Callable[..., TestResponse],
    account: Account,
    node: str,
    status: int,
    request_body: dict[str, Any],
) -> None:
    answer(status, "POST", CONTAINERS, CONTAINERS, headers=account.headers, **request_body)


def test_a_create_past_the_users_quota_matches_the_document(
    settings: Settings, account: Account, node: str
) -> None:
    app = create_app(replace(settings, max_containers_per_user=1), TESTING=False)
    client = app.test_client()
    document = client.get(OPENAPI).get_json()
    try:
        for status in (201, 403):
            response = client.post(
                CONTAINERS, json={"image_name": "busybox"}, headers=account.headers
            )
            assert response.status_code == status
            validate_answer(document, "POST", CONTAINERS, status, response.get_json())
    finally:
        app.extensions["controlplane"].database.dispose()


def test_a_create_with_no_node_to_take_it_matches_the_document(
    answer: Callable[..., TestResponse], account: Account
) -> None:
    body = {"image_name": "busybox"}
    answer(503, "POST", CONTAINERS, CONTAINERS, json=body, headers=account.headers)


def test_refused_actions_on_a_container_match_the_document(
    answer: Callable[..., TestResponse], account: Account, container: str, session: Session
) -> None:
    auth = {"headers": account.headers}
    path = f"{CONTAINERS}{container}/"
    answer(409, "POST", CONTAINER + "stop/", path + "stop/", **auth)
    answer(409, "POST", CONTAINER + "redeploy/", path + "redeploy/", **auth)
    answer(400, "POST", CONTAINER + "redeploy/", path + "redeploy/?reuse_volumes=maybe", **auth)
    # The unit tests' broker is a closed port: an accepted action is undone, and a 503.
    answer(503, "POST", CONTAINER + "start/", path + "start/", **auth)
    answer(503, "DELETE", CONTAINER, path, **auth)
    big = {"data": " " * (1024 * 1024 + 1), "content_type": "application/json"}
    answer(413, "POST", CONTAINER + "start/", path + "start/", **big, **auth)
    session.execute(update(Node).values(state=NodeState.UNREACHABLE.value))
    session.commit()
    answer(503, "POST", CONTAINER + "start/", path + "start/", **auth)
    answer(200, "GET", CONTAINER, path, **auth)


def test_unknown_objects_and_other_namespaces_match_the_document(
    answer: Callable[..., TestResponse], account: Account, container: str
) -> None:
    auth = {"headers": account.headers}
    for kind in ("container", "action", "node"):
        answer(404, "GET", f"/api/v1/{kind}/{{uuid}}/", f"/api/v1/{kind}/{UNKNOWN_UUID}/", **auth)
    namespaced = "/api/app/v1/{namespace}/container/{uuid}/start/"
    answer(404, "POST", namespaced, f"/api/app/v1/bob/container/{container}/start/", **auth)
    answer(404, "GET", "/api/infra/v1/{namespace}/node/", "/api/infra/v1/bob/node/", **auth)


def test_actions_their_cancel_and_retry_match_the_document(
    answer: Callable[..., TestResponse], account: Account, container: str, session: Session
) -> None:
    auth = {"headers": account.headers}
    actions = "/api/v1/action/"
    action = actions + "{uuid}/"
    answer(200, "GET", actions, f"{actions}?object={container}&state=Success", **auth)
    answer(400, "GET", actions, f"{actions}?start_date__gte=yesterday", **auth)
    pending = accept(session, account, container, Action.START)
    answer(200, "GET", action, f"{actions}{pending}/", **auth)
    answer(200, "GET", "/api/audit/v1/action/{uuid}/", f"/api/audit/v1/action/{pending}/", **auth)
    canceled = answer(202, "POST", action + "cancel/", f"{actions}{pending}/cancel/", **auth)
    assert canceled.headers["X-Tutum-Action-URI"] == f"{actions}{pending}/"
    answer(409, "POST", action + "cancel/", f"{actions}{pending}/cancel/", **auth)
    answer(409, "POST", action + "retry/", f"{actions}{pending}/retry/", **auth)
    # A start the closed broker refused leaves a Failed action; its retry is refused alike.
    answer(503, "POST", CONTAINER + "start/", f"{CONTAINERS}{container}/start/", **auth)
    listed = answer(200, "GET", actions, f"{actions}?state=Failed", **auth).get_json()
    failed = listed["objects"][0]["uuid"]
    answer(503, "POST", action + "retry/", f"{actions}{failed}/retry/", **auth)


def test_nodes_and_the_credential_check_match_the_document(
    answer: Callable[..., TestResponse], account: Account, node: str
) -> None:
    auth = {"headers": account.headers}
    answer(200, "GET", "/api/v1/node/", "/api/v1/node/?state=Deployed&limit=1000", **auth)
    answer(200, "GET", "/api/infra/v1/node/{uuid}/", f"/api/infra/v1/node/{node}/", **auth)
    answer(400, "GET", "/api/v1/node/", "/api/v1/node/?offset=-1", **auth)
    answer(200, "GET", "/api/v1/auth/", "/api/v1/auth/", **auth)
    answer(200, "GET", "/auth/", "/auth", **auth)
    answer(401, "GET", "/auth/", "/auth/", headers={"Authorization": "ApiKey alice:wrong"})


def test_unserved_paths_and_methods_and_bad_queries_match_the_document(
    answer: Callable[..., TestResponse], account: Account
) -> None:
    auth = {"headers": account.headers}
    answer(401, "GET", CONTAINERS, CONTAINERS)
    answer(400, "GET", CONTAINERS, CONTAINERS + "?name=%00", **auth)
    answer(400, "GET", CONTAINERS, CONTAINERS + "?state=Paused", **auth)
    answer(200, "GET", "/api/v1/service/", "/api/v1/service/", **auth)
    answer(404, "GET", None, "/api/v1/image/", **auth)
    answer(404, "GET", None, "/api/v1//container/", **auth)
    assert answer(405, "POST", "/api/v1/node/", "/api/v1/node/", **auth).headers["Allow"]
    answer(405, "OPTIONS", CONTAINERS, CONTAINERS, **auth)
    answer(405, "POST", "/v1/events/", "/v1/events/")


def test_refused_stream_handshakes_match_the_document(
    answer: Callable[..., TestResponse], account: Account, container: str
) -> None:
    answer(400, "GET", "/v1/events/", "/v1/events/")
    answer(401, "GET", "/api/audit/v1/events/", "/api/audit/v1/events/", headers=HANDSHAKE)
    answer(
        404,
        "GET",
        "/api/audit/v1/{namespace}/events/",
        "/api/audit/v1/bob/events/",
        headers={**HANDSHAKE, **account.headers},
    )
    logs = "/v1/container/{uuid}/logs/"
    answer(400, "GET", logs, f"/v1/container/{container}/logs/", headers=account.headers)
    query = f"?user={account.username}&token={account.key}"
    unknown = f"/v1/container/{UNKNOWN_UUID}/logs/{query}"
    answer(404, "GET", logs, unknown, headers=HANDSHAKE)
    answer(
        400, "GET", logs, f"/v1/container/{container}/logs/{query}&follow=maybe", headers=HANDSHAKE
    )
    for execs, path in [
        ("/v1/container/{uuid}/exec/", f"/v1/container/{container}/exec/"),
        ("/api/app/v1/container/{uuid}/exec/", f"/api/app/v1/container/{container}/exec/"),
    ]:
        answer(400, "GET", execs, path + "?command=id", headers=account.headers)
        answer(401, "GET", execs, path + "?command=id", headers=HANDSHAKE)
        unknown = path.replace(container, UNKNOWN_UUID) + f"{query}&command=id"
        answer(404, "GET", execs, unknown, headers=HANDSHAKE)
    theirs = f"/api/app/v1/bob/container/{container}/exec/"
    answer(
        404,
        "GET",
        "/api/app/v1/{namespace}/container/{uuid}/exec/",
        theirs,
        headers={**HANDSHAKE, **account.headers},
    )


def test_service_answers_match_the_document(
    answer: Callable[..., TestResponse], account: Account, node: str
) -> None:
    auth = {"headers": account.headers}
    services, one = "/api/v1/service/", "/api/v1/service/{uuid}/"
    body = {"image": "busybox", "name": "web", "target_num_containers": 2, "memory": 64}
    created = answer(201, "POST", services, services, json=body, **auth).get_json()
    uri = created["resource_uri"]
    answer(200, "GET", one, uri, **auth)
    answer(200, "GET", services, services + "?state=Init", **auth)
    answer(400, "GET", services, services + "?state=Sleeping", **auth)
    answer(200, "PATCH", one, uri, json={"run_command": "sleep 1"}, **auth)
    answer(400, "PATCH", one, uri, json={"colour": "red"}, **auth)
    answer(409, "POST", one + "stop/", uri + "stop/", **auth)
    answer(400, "POST", one + "scale/", uri + "scale/", json={"target_num_containers": -1}, **auth)
    answer(404, "GET", one, services + UNKNOWN_UUID + "/", **auth)
    answer(400, "POST", services, services, json={"name": "no-image"}, **auth)


def test_stack_answers_match_the_document(
    answer: Callable[..., TestResponse], account: Account, node: str
) -> None:
    auth = {"headers": account.headers}
    stacks, one = "/api/v1/stack/", "/api/v1/stack/{uuid}/"
    services = [{"name": "web", "image": "busybox", "ports": ["80"], "links": ["db"]}]
    services.append({"name": "db", "image": "busybox"})
    body = {"name": "shop", "services": services}
    created = answer(201, "POST", stacks, stacks, json=body, **auth).get_json()
    uri = created["resource_uri"]
    answer(200, "GET", one, uri, **auth)
    answer(200, "GET", "/api/app/v1/stack/{uuid}/", f"/api/app/v1/stack/{created['uuid']}/", **auth)
    answer(200, "GET", stacks, stacks, **auth)
    answer(200, "GET", one + "export/", uri + "export/", **auth)
    answer(409, "POST", one + "stop/", uri + "stop/", **auth)
    answer(400, "POST", stacks, stacks, json={"name": "bad", "services": [{"name": "x"}]}, **auth)
    answer(404, "GET", one, stacks + UNKNOWN_UUID + "/", **auth)
