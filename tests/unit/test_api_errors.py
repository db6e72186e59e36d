"""The HTTP error contract through the Flask test client, with production error handling
(PROPAGATE_EXCEPTIONS off): unknown paths and methods, request bodies refused before anything is
written, and unexpected errors answered without their details."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_restful import Resource

from controlplane.api.errors import ControlPlaneApi, error_response
from controlplane.core.errors import ContainerNotFoundError, InvalidInputError
from tests.unit.helpers import CONTAINERS, UNKNOWN_UUID, Account, assert_error, get_json, total

# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/v1/nothing/", "/api/v2/container/", "/favicon.ico"])
def test_an_unknown_path_is_a_json_404(client: FlaskClient, account: Account, path: str) -> None:
    assert_error(client.get(path, headers=account.headers), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", CONTAINERS, {"GET", "POST"}),
        ("DELETE", CONTAINERS, {"GET", "POST"}),
        ("PATCH", f"{CONTAINERS}{UNKNOWN_UUID}/", {"GET", "DELETE"}),
        ("GET", f"{CONTAINERS}{UNKNOWN_UUID}/start/", {"POST"}),
        ("POST", "/api/v1/node/", {"GET"}),
    ],
)
def test_a_wrong_method_is_a_json_405_with_an_allow_header(
    client: FlaskClient, account: Account, method: str, path: str, allowed: set[str]
) -> None:
    response = client.open(path, method=method, headers=account.headers)
    assert_error(response, 405)
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert method not in response.headers["Allow"]


@pytest.mark.parametrize(
    "path",
    [
        f"{CONTAINERS}{UNKNOWN_UUID}/",
        f"{CONTAINERS}not-a-uuid/",
        f"{CONTAINERS}{UNKNOWN_UUID}/logs/",
        f"/api/v1/action/{UNKNOWN_UUID}/",
        "/api/v1/action/not-a-uuid/",
        f"/api/v1/node/{UNKNOWN_UUID}/",
    ],
)
def test_an_unknown_or_malformed_uuid_is_a_404(
    client: FlaskClient, account: Account, path: str
) -> None:
    data = assert_error(client.get(path, headers=account.headers), 404)
    assert "not found" in data["error"]


@pytest.mark.parametrize("action", ["start", "stop"])
def test_an_action_on_an_unknown_container_is_a_404(
    client: FlaskClient, account: Account, node: str, action: str
) -> None:
    response = client.post(f"{CONTAINERS}{UNKNOWN_UUID}/{action}/", headers=account.headers)
    assert_error(response, 404)


def test_the_slashless_path_answers_without_a_redirect(
    client: FlaskClient, account: Account
) -> None:
    response = client.get("/api/v1/container", headers=account.headers)
    assert response.status_code == 200
    assert "objects" in response.get_json()


# --- request bodies --------------------------------------------------------------------------


def test_a_get_with_a_json_content_type_and_no_body_is_fine(
    client: FlaskClient, account: Account
) -> None:
    headers = {**account.headers, "Content-Type": "application/json"}
    response = client.get(CONTAINERS, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["meta"]["total_count"] == 0


def test_the_answer_is_json_whatever_the_accept_header(
    client: FlaskClient, account: Account
) -> None:
    response = client.get(CONTAINERS, headers={**account.headers, "Accept": "text/html"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"


def test_a_create_with_an_empty_body_names_the_missing_image(
    client: FlaskClient, account: Account, node: str
) -> None:
    headers = {**account.headers, "Content-Type": "application/json"}
    assert_error(client.post(CONTAINERS, headers=headers), 400, field="image_name")


@pytest.mark.parametrize("raw", ["{not json", "{'image_name': 'busybox'}", "\xff"])
def test_a_body_that_is_not_json_is_a_400_naming_the_body(
    client: FlaskClient, account: Account, node: str, raw: str
) -> None:
    response = client.post(
        CONTAINERS, data=raw, content_type="application/json", headers=account.headers
    )
    assert_error(response, 400, field="body")
    assert total(client, account) == 0


@pytest.mark.parametrize("value", [["busybox"], "busybox", 5, None])
def test_a_json_body_that_is_not_an_object_is_a_400(
    client: FlaskClient, account: Account, node: str, value: Any
) -> None:
    response = client.post(
        CONTAINERS, data=json.dumps(value), content_type="application/json", headers=account.headers
    )
    assert_error(response, 400, field="body")


def test_a_form_encoded_body_is_a_415(client: FlaskClient, account: Account, node: str) -> None:
    response = client.post(CONTAINERS, data={"image_name": "busybox"}, headers=account.headers)
    assert_error(response, 415)
    assert total(client, account) == 0


def test_json_sent_as_text_plain_is_a_415(client: FlaskClient, account: Account, node: str) -> None:
    response = client.post(
        CONTAINERS,
        data=json.dumps({"image_name": "busybox"}),
        content_type="text/plain",
        headers=account.headers,
    )
    assert_error(response, 415)


def test_a_body_over_the_size_limit_is_a_json_413(
    client: FlaskClient, account: Account, node: str
) -> None:
    huge = json.dumps({"image_name": "busybox", "labels": {"x": "y" * (2 * 1024 * 1024)}})
    response = client.post(
        CONTAINERS, data=huge, content_type="application/json", headers=account.headers
    )
    assert_error(response, 413)
    assert total(client, account) == 0


BAD_CREATES = [
    ({"image_name": ""}, "image_name"),
    ({"image_name": "a b"}, "image_name"),
    ({"image_name": "busybox", "name": "a/b"}, "name"),
    ({"image_name": "busybox", "memory": "512"}, "memory"),
    ({"image_name": "busybox", "cpu_shares": 1}, "cpu_shares"),
    ({"image_name": "busybox", "memroy": 512}, "memroy"),
    ({"image_name": "busybox", "autorestart": "SOMETIMES"}, "autorestart"),
    ({"image_name": "busybox", "working_dir": "tmp"}, "working_dir"),
    ({"image_name": "busybox", "labels": {"io.controlplane.node_uuid": "x"}}, "labels"),
    (
        {"image_name": "busybox", "container_envvars": [{"key": "1BAD", "value": "x"}]},
        "container_envvars[0]",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_CREATES, ids=[f for _, f in BAD_CREATES])
def test_a_bad_create_is_a_400_and_writes_nothing(
    client: FlaskClient, account: Account, node: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(CONTAINERS, json=body, headers=account.headers)
    assert_error(response, 400, field=field)
    assert total(client, account) == 0
    assert total(client, account, "/api/v1/action/") == 0


# --- unexpected errors -----------------------------------------------------------------------


class ExplodingResource(Resource):
    def get(self) -> dict[str, Any]:
        raise RuntimeError("secret detail: /etc/controlplane/db-password")


def restful_api(app: Flask) -> ControlPlaneApi:
    """The app's own flask-restful Api, found through the error router it installs."""
    api = app.handle_user_exception.func.__self__  # type: ignore[attr-defined]
    assert isinstance(api, ControlPlaneApi)
    return api


def test_an_unexpected_error_in_a_resource_is_a_500_with_a_correlation_id(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    restful_api(app).add_resource(ExplodingResource, "/api/v1/explode/", endpoint="explode")
    with caplog.at_level(logging.ERROR, logger="controlplane.api.errors"):
        response = app.test_client().get("/api/v1/explode/")
    data = assert_error(response, 500)
    assert set(data) == {"error", "correlation_id"}
    assert "secret detail" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert data["correlation_id"] in caplog.text
    assert "secret detail" in caplog.text


def test_a_database_failure_is_a_500_and_the_next_request_still_works(
    client: FlaskClient, account: Account, database_url: str
) -> None:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
        connection.execute("DROP TABLE actions")
    data = assert_error(client.get("/api/v1/action/", headers=account.headers), 500)
    assert "correlation_id" in data
    assert "actions" not in data["error"]
    assert get_json(client, CONTAINERS, account)["objects"] == []


def test_error_response_maps_domain_errors_through_their_base_class(app: Flask) -> None:
    with app.test_request_context():
        not_found = error_response(ContainerNotFoundError(ident="x"))
        invalid = error_response(InvalidInputError("memory", "must be an integer"))
    assert not_found.status_code == 404
    assert not_found.get_json() == {
        "error": "container x not found",
        "code": "container-not-found-error",
    }
    assert invalid.status_code == 400
    assert invalid.get_json()["field"] == "memory"
