"""When the bytes a client has sent make a whole HTTP/1.1 request, and what a request refused
before it reaches the application is answered.

Pure, no sockets: the worker's poller (`controlplane.httpserver.worker`) feeds a `RequestReader`
what each non-blocking read returns and hands the request to a thread only once it says
`COMPLETE`. The reader checks only what framing needs (where the head ends, how long the body
is); everything else about the request is left to gunicorn's parser, which then reads it from
memory and answers a malformed one 400 without waiting for more bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    LengthRequired,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    RequestTimeout,
    ServiceUnavailable,
)

# The largest request head (request line and headers) the poller holds for one connection. The
# API's clients send a few hundred bytes; nginx's default buffers take 33 KiB at most.
MAX_HEAD_BYTES = 64 * 1024

# gunicorn's own caps when its settings say "no limit" (gunicorn.http.message).
_UNLIMITED_REQUEST_LINE = 1024 * 1024
_MAX_HEADER_FIELDS = 32768
_DEFAULT_FIELD_SIZE = 8190

_END_OF_HEAD = b"\r\n\r\n"
# The interim answer a client that sent `Expect: 100-continue` waits for before its body.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def head_cap(limit_request_line: int, limit_request_fields: int, field_size: int) -> int:
    """Bytes of head the poller waits for: what gunicorn's limits (`limit_request_line`,
    `limit_request_fields`, `limit_request_field_size`, with their meanings of 0 and below) let
    through, and never more than MAX_HEAD_BYTES, since every pending connection may hold it."""
    line = limit_request_line if limit_request_line > 0 else _UNLIMITED_REQUEST_LINE
    fields = limit_request_fields
    if fields <= 0 or fields > _MAX_HEADER_FIELDS:
        fields = _MAX_HEADER_FIELDS
    size = field_size if field_size > 0 else _DEFAULT_FIELD_SIZE
    # Request line, CRLF, the fields with their CRLFs, the empty line, one empty line before.
    return min(line + 2 + fields * (size + 2) + 2 + 2, MAX_HEAD_BYTES)


@dataclass(frozen=True)
class FramingLimits:
    head_bytes: int
    body_bytes: int


class Progress(Enum):
    """What one more piece of a request changed."""

    PARTIAL = "partial"  # more is to come; the head is not whole yet, or was already
    HEAD = "head"  # the head just became whole; `body_length` more bytes are to come
    COMPLETE = "complete"  # the whole request (and maybe some of the next) is here


class RequestRefused(Exception):
    """A request the poller answers itself, then closes the connection."""

    def __init__(self, error: HTTPException) -> None:
        super().__init__(error.description)
        self.error = error

    def response(self) -> bytes:
        error = self.error
        return error_response(error.code or 400, error.name, error.description or error.name)


def error_response(status: int, reason: str, message: str) -> bytes:
    """A whole answer that closes the connection, as the API answers the same HTTP error
    (`controlplane.api.errors`): JSON `error` and `code`, the status name in lower case
    (docs/api.md §5.1)."""
    body = json.dumps({"error": message, "code": reason.lower()}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def timed_out(seconds: float) -> RequestRefused:
    return RequestRefused(RequestTimeout(f"the request was not complete within {seconds:g} s"))


def server_busy(message: str) -> RequestRefused:
    return RequestRefused(ServiceUnavailable(message))


class RequestReader:
    """One request's bytes as they arrive on a connection, and whether they are all there.

    A head is whole at its empty line (one empty line before the request line is allowed, as
    gunicorn allows it). The body is Content-Length bytes, or none. Refused, each with
    `RequestRefused`: a head over the cap (431), a bare LF in it (400, as gunicorn refuses it),
    Transfer-Encoding (411: the body's length must be known before a thread takes it), a
    Content-Length that is not one number (400) or over the body limit (413).
    """

    def __init__(self, limits: FramingLimits) -> None:
        self.limits = limits
        self._data = bytearray()
        self._scanned = 0  # bytes searched for the end of the head, without finding it
        self._wanted: int | None = None  # total bytes of the request, once the head is whole
        self.body_length = 0
        self.expects_continue = False

    @property
    def data(self) -> bytes:
        """Everything received: the request, and whatever the client sent after it."""
        return bytes(self._data)

    def feed(self, chunk: bytes) -> Progress:
        """Take the next bytes received.

        Raises:
            RequestRefused: the request cannot be taken (see the class docstring).
        """
        self._data += chunk
        if self._wanted is not None:
            return Progress.COMPLETE if len(self._data) >= self._wanted else Progress.PARTIAL
        start = 2 if self._data[:2] == b"\r\n" else 0
        if len(self._data) < 2:
            return Progress.PARTIAL
        end = self._data.find(_END_OF_HEAD, max(start, self._scanned - 3))
        head_end = len(self._data) if end < 0 else end + len(_END_OF_HEAD)
        if head_end - start > self.limits.head_bytes:
            raise RequestRefused(
                RequestHeaderFieldsTooLarge(
                    f"the request line and headers take more than {self.limits.head_bytes} bytes"
                )
            )
        if self._has_bare_lf(max(start, self._scanned - 1), head_end):
            raise _malformed("a line of the request head ends in LF without CR")
        if end < 0:
            self._scanned = len(self._data)
            return Progress.PARTIAL
        self._read_head(bytes(self._data[start:end]))
        self._wanted = head_end + self.body_length
        return Progress.COMPLETE if len(self._data) >= self._wanted else Progress.HEAD

    def _has_bare_lf(self, start: int, end: int) -> bool:
        index = self._data.find(b"\n", start, end)
        while index >= 0:
            if index == 0 or self._data[index - 1] != ord("\r"):
                return True
            index = self._data.find(b"\n", index + 1, end)
        return False

    def _read_head(self, head: bytes) -> None:
        request_line, *fields = head.split(b"\r\n")
        lengths: list[bytes] = []
        expect = b""
        for field in fields:
            name, colon, value = field.partition(b":")
            if not colon:
                continue  # not a header field: gunicorn's parser refuses the head
            name = name.lower()
            if name == b"transfer-encoding":
                raise RequestRefused(
                    LengthRequired("send the request body with a Content-Length, not chunked")
                )
            if name == b"content-length":
                lengths.append(value.strip(b" \t"))
            elif name == b"expect":
                expect = value.strip(b" \t").lower()
        if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            raise _malformed("the request needs exactly one Content-Length, a number")
        self.body_length = int(lengths[0]) if lengths else 0
        if self.body_length > self.limits.body_bytes:
            raise RequestRefused(
                RequestEntityTooLarge(f"the request body is over {self.limits.body_bytes} bytes")
            )
        self.expects_continue = (
            self.body_length > 0
            and expect == b"100-continue"
            and request_line.endswith(b" HTTP/1.1")
        )


def _malformed(message: str) -> RequestRefused:
    return RequestRefused(BadRequest(message))
