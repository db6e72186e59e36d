"""The API's websocket streams (logs, exec, events), read as JSON frames.

simple-websocket is already the server's websocket library; its client is used here with one
change: a refused handshake tells only the status, and the API explains every refusal in its
JSON error body (a 429 says which cap was met), so `_Socket` reads that body too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import simple_websocket
from wsproto.events import RejectData

from controlplane.client.api import Api
from controlplane.client.errors import ClientError

# Bytes of a refusal's body read at most: the API's are one short JSON object.
REFUSAL_BYTES = 65536


class _Refused(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(status)
        self.status, self.body = status, body


class _Socket(simple_websocket.Client):
    def handshake(self) -> None:
        try:
            super().handshake()
        except simple_websocket.ConnectionError as exc:
            body = self._refusal_body()
            self.sock.close()
            raise _Refused(exc.status_code or 400, body) from None

    def _refusal_body(self) -> str:
        body = b""
        while len(body) < REFUSAL_BYTES:
            for event in self.ws.events():
                if isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        return body.decode("utf-8", "replace")
            data = self.sock.recv(self.receive_bytes)
            if not data:
                break
            self.ws.receive_data(data)
        return body.decode("utf-8", "replace")


class Stream:
    """One open stream of the API, as the user the client is configured for."""

    def __init__(self, api: Api, path: str, params: Mapping[str, Any] | None = None) -> None:
        url = "ws" + api.url(path).removeprefix("http")
        if params:
            url += "?" + urlencode(params)
        self.api = api
        try:
            self.socket = _Socket.connect(
                url,
                headers={
                    "Authorization": api.config.authorization,
                    "User-Agent": "controlplane-cli",
                },
            )
        except _Refused as refused:
            raise api.refusal(refused.status, refused.body, {}) from None
        except OSError:
            raise api.unreachable() from None

    def frames(self, timeout: float | None = None) -> Iterator[dict[str, Any] | None]:
        """The frames as they come, and None each time `timeout` seconds pass without one;
        ends when the server closes the socket (`close_code` says how)."""
        while True:
            try:
                data = self.socket.receive(timeout)
            except simple_websocket.ConnectionClosed:
                return
            if data is None:
                yield None
                continue
            try:
                frame = json.loads(data)
            except ValueError:
                raise ClientError(f"the API sent a frame that is not JSON: {data[:80]!r}") from None
            yield frame

    def error(self, frame: dict[str, Any]) -> ClientError:
        """An error frame (docs/api.md §6.7, §7.3) as one sentence; the events stream tells
        bad credentials this way, after its handshake."""
        data = frame.get("data")
        message = str(data.get("errorMessage") or "") if isinstance(data, dict) else ""
        if message == "UNAUTHORIZED":
            return self.api.refusal(401, "", {})
        return ClientError(message or "the stream failed")

    def ended(self, what: str) -> ClientError | None:
        """How the stream ended, if not normally."""
        if self.close_code == 1000:
            return None
        return ClientError(f"the {what} stream ended: {self.close_message or self.close_code}")

    @property
    def close_code(self) -> int:
        return int(self.socket.close_reason)

    @property
    def close_message(self) -> str:
        return str(self.socket.close_message or "")

    def close(self) -> None:
        try:
            self.socket.close()
        except simple_websocket.ConnectionClosed:
            pass

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
