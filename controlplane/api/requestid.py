"""Every request's id (`core.logcontext`): taken from its X-Request-Id or made, current for the
thread while the request is served, so every log line of it carries it, and sent back in the
answer's X-Request-Id, refusals and errors included. A 500's correlation id is this id too."""

from __future__ import annotations

from flask import Flask, Response, g, request

from controlplane.core.logcontext import (
    REQUEST_ID_HEADER,
    request_id_from,
    reset_request_id,
    set_request_id,
)


def register(app: Flask) -> None:
    """Install the hooks; before any other `before_request`, so that a request refused by one
    of those has its id too."""
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_answer)
    app.teardown_request(_end)


def _begin() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.request_id_token = set_request_id(g.request_id)


def _answer(response: Response) -> Response:
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def _end(_error: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        reset_request_id(token)
