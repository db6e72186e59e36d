"""REST calls to the API (Tutum tree, `/api/v1/`), each failure turned into one sentence.

requests is docker-py's own HTTP library, so it costs the package nothing new; it is pinned all
the same, since the client uses it directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from controlplane.client.config import ClientConfig
from controlplane.client.errors import ClientError

TREE = "/api/v1/"
ACTION_HEADER = "X-Tutum-Action-URI"
# Seconds to connect and to wait for an answer; a node's logs may take the API's node timeout
# (10 s by default) to come back.
TIMEOUT = (5.0, 30.0)
PAGE = 100


class ApiError(ClientError):
    """The API answered with an error: its status, its `code` and its message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Api:
    """One user's session with the API."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": config.authorization, "User-Agent": "controlplane-cli"}
        )

    def url(self, path: str) -> str:
        """`path` under the Tutum tree, unless it is already root-relative (a resource URI)."""
        return self.config.url + (path if path.startswith("/") else TREE + path)

    def call(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> requests.Response:
        try:
            response = self.session.request(
                method, self.url(path), params=params, json=body, timeout=TIMEOUT
            )
        except requests.ConnectionError:
            raise self.unreachable() from None
        except requests.Timeout:
            raise ClientError(
                f"the control plane at {self.config.url} did not answer in time"
            ) from None
        if response.status_code >= 400:
            raise self.error(response)
        return response

    def error(self, response: requests.Response) -> ApiError:
        return self.refusal(response.status_code, response.text, response.headers)

    def refusal(self, status: int, text: str, headers: Mapping[str, str]) -> ApiError:
        """The error of a refused request or stream handshake."""
        if status == 401:
            return ApiError(
                401,
                "authentication-error",
                f"the API at {self.config.url} refused the credentials of user "
                f"{self.config.user!r}: check CONTROLPLANE_USER and CONTROLPLANE_APIKEY",
            )
        # The operator finds a failed request, and its traceback, by its id in the API's log.
        request_id = headers.get("X-Request-Id") if status >= 500 else None
        return error_from(status, text, f" (request id {request_id})" if request_id else "")

    def unreachable(self) -> ClientError:
        return ClientError(
            f"cannot reach the control plane at {self.config.url}: is `controlplane api` "
            "running there, and does CONTROLPLANE_URL name it?"
        )

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return dict(self.call("GET", path, params=params).json())

    def objects(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every object of a list, page after page."""
        offset = 0
        while True:
            page = self.get(path, **params, limit=PAGE, offset=offset)
            yield from page["objects"]
            if not page["meta"]["next"]:
                return
            offset = page["meta"]["offset"] + page["meta"]["limit"]

    def act(
        self, method: str, path: str, body: Any = None, **params: Any
    ) -> tuple[dict[str, Any], str]:
        """An accepted request: the object it answered with, and its Action's uuid."""
        response = self.call(method, path, params=params or None, body=body)
        return dict(response.json()), uuid_of(response.headers.get(ACTION_HEADER, ""))


def uuid_of(resource_uri: str) -> str:
    """`/api/v1/container/<uuid>/` -> `<uuid>`."""
    return resource_uri.rstrip("/").rsplit("/", 1)[-1]


def error_from(status: int, text: str, suffix: str = "") -> ApiError:
    """The API's error body (`{"error": ..., "code": ...}`), or the status when it sent none."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        field = f" ({body['field']})" if body.get("field") else ""
        return ApiError(status, str(body.get("code", "")), f"{body['error']}{field}{suffix}")
    return ApiError(status, "", f"the API answered {status}{suffix}")
