"""gunicorn's threaded worker, with every request read in its poller before a thread takes it.

The stock gthread worker gives a connection a thread as soon as it is readable, and the thread
then blocks in gunicorn's parser until the request is complete. `PrereadWorker` instead reads a
request, head and body, in the main loop with non-blocking reads as its bytes arrive, and
hands it to a thread only when it is whole, the bytes given to gunicorn's parser to read from
memory. A thread never waits on a client's request, so slow clients cost a socket and a
buffer each, not a thread. It takes over `ThreadWorker.enqueue_req`, which the stock worker
calls for every request a thread is to serve: a new connection, one back from keep-alive, one
with read-ahead left after the last request. A connection closed after its answer is drained in
the poller too (`finish_request`), where the stock worker waits on it. Everything else is
gunicorn's.

A request must be whole within the read deadline, counted from when its connection was accepted
or came back readable from keep-alive: past it the connection is closed, with a 408 if anything
was received. What the poller refuses (`controlplane.httpserver.framing.RequestReader`) it
answers itself and closes. How many connections a worker holds, pending ones included, is
gunicorn's `worker_connections`; request bodies waiting in the poller share BODY_BUDGET, past
which a request with a body is refused with 503.

It serves plain HTTP/1.1 only (TLS and HTTP/2 end at the front, docs/operations.md §6.3): the
pre-read reads the socket's bytes as they come, before gunicorn would unwrap TLS or look for an
HTTP/2 or PROXY preface.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from gunicorn import util
from gunicorn.errors import ConfigError
from gunicorn.workers.gthread import TConn, ThreadWorker

from controlplane.httpserver.framing import (
    CONTINUE,
    FramingLimits,
    Progress,
    RequestReader,
    RequestRefused,
    error_response,
    head_cap,
    server_busy,
    timed_out,
)

# Bytes of request bodies one worker's poller holds at once, for requests still arriving: 16
# bodies of the API's largest. A request whose body would not fit is refused (503).
BODY_BUDGET = 16 * 1024 * 1024
# The most one non-blocking read takes from a socket.
RECV_BYTES = 64 * 1024
# How long, and for how many bytes, a connection closed after its answer is drained for the
# client's last bytes (gunicorn's close_graceful: RFC 9112 §9.6, so the answer is not cut by a
# reset).
LINGER_SECONDS = 2.0
LINGER_BYTES = 64 * 1024


@dataclass(frozen=True)
class RequestLimits:
    """What `controlplane api` configures the worker with: seconds a request may take to
    arrive, and the largest body the API takes (its MAX_CONTENT_LENGTH)."""

    read_timeout: float
    body_bytes: int


@dataclass
class _Pending:
    """A connection whose next request the poller is reading."""

    conn: TConn
    reader: RequestReader
    deadline: float
    reserved: int = field(default=0)  # bytes of BODY_BUDGET held for its body


class PrereadWorker(ThreadWorker):
    """The gthread worker whose threads only ever get whole requests; configured by a subclass
    made with `preread_worker`."""

    limits: ClassVar[RequestLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.cfg
        head_bytes = head_cap(
            cfg.limit_request_line, cfg.limit_request_fields, cfg.limit_request_field_size
        )
        self.framing = FramingLimits(head_bytes=head_bytes, body_bytes=self.limits.body_bytes)
        # In the order they were started, which is the order of their deadlines.
        self.reading: dict[TConn, _Pending] = {}
        self.reserved = 0
        # Connections closed after their answer, drained until the client closes: their
        # deadlines, in order too.
        self.lingering: dict[TConn, float] = {}

    def init_process(self) -> None:
        # gunicorn answers what its parser refuses (a NUL in a header, a request line past
        # limit_request_line ...) and an error that escapes the app with an HTML page, written
        # by `util.write_error`, which `Worker.handle_error` looks up on every call. This
        # process is the API's alone, so its errors are made JSON here, once, before any
        # thread starts: every answer a client gets is JSON (docs/api.md §5.1).
        util.write_error = write_json_error
        super().init_process()

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or cfg.proxy_protocol != "off" or cfg.http2_cleartext != "off":
            raise ConfigError(
                f"{cls.__name__} serves plain HTTP/1.1: terminate TLS and HTTP/2 at the front "
                "and leave proxy_protocol off"
            )

    def enqueue_req(self, conn: TConn) -> None:
        """Read the connection's next request in the poller; a thread gets it once it is whole."""
        pending = _Pending(
            conn, RequestReader(self.framing), time.monotonic() + self.limits.read_timeout
        )
        self.reading[conn] = pending
        conn.sock.setblocking(False)
        # Read-ahead the last request left in gunicorn's parser is the start of this one.
        ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        if not ahead or not self._advance(pending, ahead):
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self._on_readable, pending)
            )

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """As the stock worker's, but a connection that is done is closed in the poller.

        The stock worker drains it for up to 2 s with a blocking read on the main loop
        (`util.close_graceful`): a client that asks for `Connection: close` and then leaves its
        end open would stall every other connection of the worker for 2 s each time."""
        if fs.cancelled() or fs.exception() is not None or fs.result():
            super().finish_request(conn, fs)
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:  # closed already: a websocket the application closed itself
            self._end_linger(conn)
            return
        conn.sock.setblocking(False)
        self.lingering[conn] = time.monotonic() + LINGER_SECONDS
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn, 0))

    def _drain(self, conn: TConn, drained: int, _sock: socket.socket) -> None:
        try:
            chunk = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        drained += len(chunk)
        if not chunk or drained >= LINGER_BYTES:
            self.poller.unregister(conn.sock)
            self._end_linger(conn)
        else:
            self.poller.modify(conn.sock, selectors.EVENT_READ, partial(self._drain, conn, drained))

    def _end_linger(self, conn: TConn) -> None:
        self.lingering.pop(conn, None)
        self.nr_conns -= 1
        util.close(conn.sock)

    def murder_pending(self) -> None:
        """Close what the stock worker expires, every request past its read deadline, and every
        connection that lingered long enough."""
        super().murder_pending()
        now = time.monotonic()
        while self.lingering:
            conn, deadline = next(iter(self.lingering.items()))
            if deadline > now:
                break
            self.poller.unregister(conn.sock)
            self._end_linger(conn)
        while self.reading:
            pending = next(iter(self.reading.values()))
            if pending.deadline > now:
                break
            if pending.reader.data:
                self._refuse(pending, timed_out(self.limits.read_timeout))
            else:
                self._close(pending)

    def _on_readable(self, pending: _Pending, _sock: socket.socket) -> None:
        try:
            chunk = pending.conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno not in (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE):
                self.log.debug("reading a request: %s", exc)
            self._close(pending)
            return
        if not chunk:  # the client closed the connection
            self._close(pending)
            return
        self._advance(pending, chunk)

    def _advance(self, pending: _Pending, chunk: bytes) -> bool:
        """Feed `chunk` to the request; True once the connection has left the poller."""
        try:
            progress = pending.reader.feed(chunk)
            if progress is Progress.HEAD:
                self._reserve(pending)
        except RequestRefused as refusal:
            self._refuse(pending, refusal)
            return True
        if progress is Progress.COMPLETE:
            self._hand_off(pending)
            return True
        if progress is Progress.HEAD and pending.reader.expects_continue:
            if not self._send(pending, CONTINUE):
                self._close(pending)
                return True
        return False

    def _reserve(self, pending: _Pending) -> None:
        wanted = pending.reader.body_length
        if self.reserved + wanted > BODY_BUDGET:
            raise server_busy("the server holds as many request bodies as it can; try again")
        pending.reserved = wanted
        self.reserved += wanted

    def _hand_off(self, pending: _Pending) -> None:
        conn = pending.conn
        self._forget(pending)
        # Plain HTTP/1.1 (check_config): init only makes the parser; it reads nothing.
        conn.init()
        conn.parser.unreader.unread(pending.reader.data)
        conn.data_ready = True
        super().enqueue_req(conn)

    def _refuse(self, pending: _Pending, refusal: RequestRefused) -> None:
        """Answer what the poller refused, as far as the socket takes it, and close."""
        self.log.debug("refused a request from %s: %s", pending.conn.client, refusal)
        self._send(pending, refusal.response())
        self._close(pending)

    @staticmethod
    def _send(pending: _Pending, data: bytes) -> bool:
        """Send a short answer without waiting; False when the socket does not take it all at
        once (a client that reads nothing does not get to hold the poller either)."""
        try:
            return bool(pending.conn.sock.send(data) == len(data))
        except OSError:
            return False

    def _close(self, pending: _Pending) -> None:
        self._forget(pending)
        self.nr_conns -= 1
        util.close(pending.conn.sock)

    def _forget(self, pending: _Pending) -> None:
        del self.reading[pending.conn]
        self.reserved -= pending.reserved
        try:
            self.poller.unregister(pending.conn.sock)
        except (KeyError, ValueError):
            pass  # it was never registered: completed from read-ahead


def write_json_error(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn's `util.write_error`, in the API's error format."""
    util.write_nonblock(sock, error_response(status, reason, message or reason))


def preread_worker(limits: RequestLimits) -> type[PrereadWorker]:
    """The worker class for `limits`. gunicorn makes its workers itself, from a class, in the
    forked process, so the limits travel as class attributes of a subclass made for them."""
    return type("PrereadWorker", (PrereadWorker,), {"limits": limits})
