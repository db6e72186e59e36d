"""The HTTP client the live suites drive the API with."""

from __future__ import annotations

from typing import Any

import requests

from tests.support.locations import IMAGE
from tests.support.waiting import wait_for


class ApiClient:
    """A thin HTTP client for one user; returns raw responses so tests check status codes."""

    def __init__(self, base_url: str, username: str, key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"ApiKey {username}:{key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=30, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("image_name", IMAGE)
        response = self.request("POST", "/api/v1/container/", json=fields)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def container(self, uuid: str) -> dict[str, Any]:
        response = self.request("GET", f"/api/v1/container/{uuid}/")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def act(self, uuid: str, action: str) -> requests.Response:
        if action == "terminate":
            return self.request("DELETE", f"/api/v1/container/{uuid}/")
        return self.request("POST", f"/api/v1/container/{uuid}/{action}/")

    def logs(self, uuid: str, **params: Any) -> str:
        response = self.request("GET", f"/api/v1/container/{uuid}/logs/", params=params)
        assert response.status_code == 200, response.text
        return str(response.json()["logs"])

    def action(self, uri: str) -> dict[str, Any]:
        response = self.request("GET", uri)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_state(self, uuid: str, state: str, timeout: float = 30) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            body = self.container(uuid)
            return body if body["state"] == state else None

        return dict(wait_for(reached, timeout))

    def node_state(self, node_uuid: str) -> str | None:
        """The node's state, None while it has not registered."""
        response = self.request("GET", f"/api/v1/node/{node_uuid}/")
        return str(response.json()["state"]) if response.status_code == 200 else None

    def wait_node_state(self, node_uuid: str, state: str, timeout: float = 60) -> None:
        wait_for(lambda: self.node_state(node_uuid) == state, timeout, interval=0.2)

    def wait_action(self, uri: str, timeout: float = 30) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            body = self.action(uri)
            return body if body["state"] in ("Success", "Failed") else None

        return dict(wait_for(finished, timeout))


def answers(base_url: str) -> bool:
    """Whether an API at `base_url` answers HTTP at all (any status): up, for a wait."""
    try:
        requests.get(base_url + "/api/v1/node/", timeout=5)
    except requests.ConnectionError:
        return False
    return True
