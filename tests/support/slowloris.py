"""Slow clients for the live suites: connections that start a request and never finish it.

Each way of starting one is an `Opening`. `SlowAttack` keeps a number of such connections open
against a server from a thread, opening a new one for each the server closes, as the slowloris
tool does, so the attack lasts for as long as the test needs it whatever the server's deadline.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable

# What a connection is sent before it stalls.
Opening = Callable[[socket.socket], None]

HALF_REQUEST_LINE = b"GET /api/v1/no"
# A head dripped one byte a second, one header line after another, never ending.
DRIP_HEAD = b"GET /api/v1/node/ HTTP/1.1\r\nHost: x\r\n"
DRIP_LINE = b"X-Slow: y\r\n"


def half_request_line(sock: socket.socket) -> None:
    sock.sendall(HALF_REQUEST_LINE)


def short_body(sock: socket.socket) -> None:
    """A body declared 1000 bytes long, of which 10 are sent."""
    sock.sendall(
        b"POST /api/v1/container/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n" + b'{"image_na'
    )


def kept_alive_then_partial(sock: socket.socket) -> None:
    """One whole request, its answer read, then half of the next request on the same
    connection."""
    sock.sendall(b"GET /api/v1/node/ HTTP/1.1\r\nHost: x\r\n\r\n")
    read_response(sock)
    sock.sendall(b"GET /api/v1/node/ HTTP/1.1\r\nHo")


def closing_request_left_open(sock: socket.socket) -> None:
    """A whole request that asks the server to close the connection after its answer, whose
    client then neither reads the answer nor closes its end."""
    sock.sendall(b"GET /api/v1/node/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


def dripped_head(sock: socket.socket) -> None:
    """The start of a head; `SlowAttack(drip=True)` then sends one more byte a second."""
    sock.sendall(DRIP_HEAD[:1])


def read_response(sock: socket.socket) -> bytes:
    """One whole response (with Content-Length, as the API's are); fails on a closed socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += _recv(sock)
    return head + b"\r\n\r\n" + body


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection mid-response")
    return chunk


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as a close
    too); fails if it does not within the socket's timeout."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


class SlowAttack:
    """`count` connections to `address`, each started by `opening` and left there; one the
    server closes is replaced by a new one, until `stop`. With `drip`, every connection is sent
    one more byte of a never-ending head each second."""

    def __init__(
        self, address: tuple[str, int], count: int, opening: Opening, *, drip: bool = False
    ) -> None:
        self.address = address
        self.opening = opening
        self.drip = drip
        self.closed_by_server = 0
        self._stopping = threading.Event()
        self._selector = selectors.DefaultSelector()
        # Every open connection, with how many bytes of the dripped head it was sent.
        self._sent: dict[socket.socket, int] = {}
        for _ in range(count):
            self._open()
        self._thread = threading.Thread(target=self._run, name="slowloris", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        sock = socket.create_connection(self.address, timeout=30)
        self.opening(sock)
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ)
        self._sent[sock] = 1

    def _run(self) -> None:
        next_drip = time.monotonic() + 1
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if self._closed(sock):
                    self._close(sock)
                    self.closed_by_server += 1
                    self._open()
            if self.drip and time.monotonic() >= next_drip:
                next_drip += 1
                for sock in list(self._sent):
                    self._drip(sock)

    @staticmethod
    def _closed(sock: socket.socket) -> bool:
        try:
            return not sock.recv(65536)  # an answer (a 408) comes before the close: read on
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _drip(self, sock: socket.socket) -> None:
        sent = self._sent[sock]
        stream = DRIP_HEAD + DRIP_LINE * (sent // len(DRIP_LINE) + 1)
        try:
            sock.send(stream[sent : sent + 1])
        except OSError:
            return  # closed by the server: the selector reports it
        self._sent[sock] = sent + 1

    def _close(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        del self._sent[sock]
        sock.close()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)
        for sock in list(self._sent):
            self._close(sock)
        self._selector.close()

    def __enter__(self) -> SlowAttack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
