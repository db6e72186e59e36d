"""Log lines an operator can follow across processes: a request id, and JSON lines on request.

Every API request has a request id: the client's `X-Request-Id` when it is a usable one (1 to
128 letters, digits and `. _ : -`), one made here otherwise. It is the current request id of the
thread that serves the request, travels sealed inside the operation the request queues for a
node (`messages.Operation`) and inside the claim the node sends back (`messages.ClaimRequest`),
and is the current request id of the agent's task and of the reporter's claim in turn, so one
action can be followed from the API's access line to the agent's last word on it.

Every log record gets it as `request_id` (None outside any request) through `RequestIdFilter`:
a text line ends with ` [request <id>]` when there is one; with CONTROLPLANE_LOG_FORMAT=json
every line is one JSON object (`JsonFormatter`) with `time`, `level`, `logger`, `message`,
`request_id` and, for an exception, `exception`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

REQUEST_ID_HEADER = "X-Request-Id"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(request_suffix)s"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def request_id_from(header: str | None) -> str:
    """The request id of a request that sent `header` as its X-Request-Id: that value if it
    is usable in a log line, a new one otherwise."""
    if header is not None and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str:
    """The request id of what this thread is doing; "" outside any request."""
    return _current.get() or ""


def set_request_id(request_id: str | None) -> contextvars.Token[str | None]:
    """Make `request_id` current (None or "" for none) until `reset_request_id(token)`."""
    return _current.set(request_id or None)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _current.reset(token)


@contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    """`request_id` current for the block: a task that carries one logs under it."""
    token = set_request_id(request_id)
    try:
        yield
    finally:
        reset_request_id(token)


class RequestIdFilter(logging.Filter):
    """Gives every record the current request id (`request_id`, None outside a request) and
    the text format's ` [request <id>]` ending (`request_suffix`). It sits on handlers, so a
    record of any logger that reaches them carries it."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _current.get()
        record.request_id = request_id
        record.request_suffix = f" [request {request_id}]" if request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in a message are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def json_lines() -> bool:
    """Whether this process logs JSON lines (its root logger's handlers write them)."""
    return any(isinstance(handler.formatter, JsonFormatter) for handler in logging.root.handlers)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of CONTROLPLANE_LOG_FORMAT `log_format` ("text" or "json")."""
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)
