"""Services through the API, for the live suites: create, act, wait for a state."""

from __future__ import annotations

from typing import Any

from tests.support.api import ApiClient
from tests.support.locations import IMAGE
from tests.support.waiting import wait_for

SLEEPER = 'sh -c "exec sleep 3600"'


def create_service(client: ApiClient, **fields: Any) -> dict[str, Any]:
    body = {"image": IMAGE, "run_command": SLEEPER, **fields}
    response = client.request("POST", "/api/v1/service/", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def service(client: ApiClient, uuid: str) -> dict[str, Any]:
    response = client.request("GET", f"/api/v1/service/{uuid}/")
    assert response.status_code == 200, response.text
    return dict(response.json())


def act(client: ApiClient, uuid: str, action: str, **body: Any) -> dict[str, Any]:
    response = client.request("POST", f"/api/v1/service/{uuid}/{action}/", json=body or None)
    assert response.status_code == 202, response.text
    return dict(response.json())


def wait_service(
    client: ApiClient, uuid: str, state: str, count: int | None = None, timeout: float = 60
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body = service(client, uuid)
        ok = body["state"] == state and (count is None or body["current_num_containers"] == count)
        return body if ok else None

    return dict(wait_for(reached, timeout, interval=0.2))


def node_of(client: ApiClient, container_uri: str) -> str:
    return str(client.request("GET", container_uri).json()["node"])


def act_terminate(client: ApiClient, uuid: str) -> None:
    response = client.request("DELETE", f"/api/v1/service/{uuid}/")
    assert response.status_code == 202, response.text
