"""Serving a websocket from a Flask view, on simple-websocket (the engine under flask-sock).

flask-sock's route decorator completes the handshake before the view runs, but the stream
contract must refuse some handshakes outright (401 on Docker Cloud events and on log streams, 404
for a container the caller cannot see, 400 for a bad query; docs/api.md §6.2, §7). So stream
views are plain Flask views: they check first, failing with the usual JSON errors, and only then
call `serve`, which performs the handshake and runs the session on the connection. Routing tells
a handshake from a plain GET on the same path by Werkzeug's `websocket=True` rules.

Only gunicorn (`controlplane api`) is supported: simple-websocket takes the raw socket from its
environ, and the response `serve` returns tells gunicorn the connection was taken over.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import Response, g, request
from simple_websocket import ConnectionClosed, Server
from wsproto.events import CloseConnection
from wsproto.utilities import LocalProtocolError

from controlplane.api.instruments import websocket_open
from controlplane.core.errors import StreamCapacityError, UserStreamCapacityError

log = logging.getLogger(__name__)

# Server pings find clients that vanished without closing (the SDKs ping too, every 5 or 10 s).
PING_INTERVAL = 25
NORMAL_CLOSURE = 1000
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
_MAX_REASON_BYTES = 123
# How long a closed socket waits for the client's answering close frame.
_CLOSE_ANSWER_SECONDS = 1.0
_CLOSE_SENT = "_controlplane_close_sent"

SocketSession = Callable[[Server], None]


class StreamSlots:
    """Caps the websockets one process holds open, in all and per user.

    With gunicorn's gthread worker an open socket holds one of the worker's threads for as long
    as it lasts; without a cap, enough dashboards would take every thread and leave none for
    REST requests. A handshake past the cap is refused (503) instead. None means no cap.

    One user could still take every slot, refusing every other user's streams: so each user
    may hold at most `per_user` of them (429 past that). The user is known only once the view
    has authenticated the handshake, so the process's slot is taken first (`held`), and the
    user's is added to it (`StreamHold.claim_for`). Both count this process's sockets only.
    """

    def __init__(self, slots: int | None, per_user: int | None = None) -> None:
        self.slots = slots
        self.per_user = per_user
        self._free = None if slots is None else threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._by_user: Counter[int] = Counter()

    @contextmanager
    def held(self) -> Iterator[StreamHold]:
        """Hold a slot for the duration of a stream view; what the hold claims for a user is
        given back with it.

        Raises:
            StreamCapacityError: every slot is taken.
        """
        if self._free is not None and not self._free.acquire(blocking=False):
            raise StreamCapacityError(slots=self.slots)
        hold = StreamHold(self)
        try:
            yield hold
        finally:
            hold.release()
            if self._free is not None:
                self._free.release()

    def streams_of(self, user_id: int) -> int:
        """How many streams `user_id` holds on this process now."""
        with self._lock:
            return self._by_user[user_id]

    def take_user_slot(self, user_id: int) -> None:
        """Count one more stream of `user_id` (StreamHold gives it back).

        Raises:
            UserStreamCapacityError: the user holds `per_user` streams already.
        """
        with self._lock:
            if self.per_user is not None and self._by_user[user_id] >= self.per_user:
                raise UserStreamCapacityError(slots=self.per_user)
            self._by_user[user_id] += 1

    def give_user_slot(self, user_id: int) -> None:
        """Count one stream of `user_id` fewer."""
        with self._lock:
            self._by_user[user_id] -= 1
            if self._by_user[user_id] <= 0:
                del self._by_user[user_id]


class StreamHold:
    """One stream view's slot, and the user it was claimed for once known."""

    def __init__(self, slots: StreamSlots) -> None:
        self._slots = slots
        self._user_id: int | None = None

    def claim_for(self, user_id: int) -> None:
        """Count this stream against `user_id`'s cap (once; a second claim is a no-op)."""
        if self._user_id is not None:
            return
        self._slots.take_user_slot(user_id)
        self._user_id = user_id

    def release(self) -> None:
        if self._user_id is not None:
            self._slots.give_user_slot(self._user_id)
            self._user_id = None


def holding_slot(
    view: Callable[..., Response], slots: Callable[[], StreamSlots]
) -> Callable[..., Response]:
    """`view`, run while holding one of the process's stream slots (`slots()` finds them);
    `claim_user_slot` counts it against the caller's cap once the view knows the caller."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        with slots().held() as hold:
            g.stream_hold = hold
            return view(*args, **kwargs)

    return wrapper


def claim_user_slot(user_id: int) -> None:
    """Count the stream being opened against `user_id`'s cap (outside a stream view, as in a
    view called directly, there is nothing to count).

    Raises:
        UserStreamCapacityError: the user holds all the streams one user may on this process.
    """
    hold = g.get("stream_hold")
    if isinstance(hold, StreamHold):
        hold.claim_for(user_id)


class _TakenOver(Response):
    """What a view returns once the websocket session is over: gunicorn must not write a
    response on a connection that was upgraded, and closes it on StopIteration."""

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        raise StopIteration()


def serve(session: SocketSession) -> Response:
    """Complete the handshake, run `session` on the socket, then close it (1000 unless the
    session closed it already). A client that goes away ends the session quietly."""
    started = time.monotonic()
    ws = Server.accept(request.environ, ping_interval=PING_INTERVAL)
    # simple-websocket's reader thread closes its socket the moment the close handshake ends;
    # this second handle keeps the connection for `_release` to end gently.
    held = ws.sock.dup()
    try:
        with websocket_open():
            session(ws)
    except (ConnectionClosed, OSError):
        pass
    finally:
        close(ws)
        _release(ws, held)
        log.info("websocket %s closed after %.1f s", request.path, time.monotonic() - started)
    return _TakenOver()


def _release(ws: Server, held: socket.socket) -> None:
    """Let the client answer the close, then end the TCP connection here: our side first (a
    FIN), then whatever the client still sends is read and dropped until it closes too, for a
    moment at most. A client that sends after the close frame (the old CLIs' exec sends its
    stdin's end on every turn, and reads only after) then sees the end of the connection
    instead of a reset, which it would report as a failure (`[Errno 32] Broken pipe`).

    gunicorn closes a taken-over connection "gracefully", draining it for up to 2 s on the
    worker's main loop (gthread). simple-websocket's reader thread reads the same socket and
    takes the client's last bytes, so that drain would wait out its 2 s, stalling every other
    connection of the worker each time a socket closes. Closed here first, gunicorn's close of
    it is a no-op.
    """
    ws.thread.join(_CLOSE_ANSWER_SECONDS)
    try:
        ws.sock.close()
    except OSError:
        pass
    deadline = time.monotonic() + _CLOSE_ANSWER_SECONDS
    try:
        held.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            held.settimeout(left)
            if not held.recv(4096):
                break
    except OSError:
        pass
    finally:
        held.close()


def send_json(ws: Server, payload: dict[str, Any]) -> None:
    """Send one text frame holding a JSON object (raises ConnectionClosed once the client left)."""
    ws.send(json.dumps(payload, separators=(",", ":")))


def close(ws: Server, code: int = NORMAL_CLOSURE, reason: str | None = None) -> None:
    """Send the close frame, once, unless the socket is closed already; a client gone
    meanwhile is no error. The reason is cut to the 123 bytes a close frame can hold.

    The TCP connection stays open for the client's answering close frame (`_release` closes
    it once that came, or after a second): simple-websocket's own close drops it at once, and
    a client that still sends before it reads the close frame then gets a reset. The old CLIs'
    exec does exactly that (it sends its stdin's end on every turn of its loop), and fails.
    """
    if not ws.connected or getattr(ws, _CLOSE_SENT, False):
        return
    if reason is not None:
        reason = reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")
    setattr(ws, _CLOSE_SENT, True)
    try:
        ws.sock.send(ws.ws.send(CloseConnection(code, reason)))
    except (LocalProtocolError, OSError):
        pass


def discard_incoming(ws: Server) -> None:
    """Drop what the client sent: streams are one-way, and unread frames would pile up in memory.
    (Pings are answered by simple-websocket's own reader thread, not here.)"""
    while ws.receive(timeout=0) is not None:
        pass
