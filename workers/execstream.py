"""Execs: a command run in a running container, its output sent, as it comes, to one API
socket's Redis channel, then its exit code (docs/api.md §6.5).

An exec is asked for by a quick Celery task and runs in a daemon thread of its own, as a log
stream does (`workers.logstream`), so a command that lasts for hours never holds a slot of the
task pool. Its messages go out sealed for this one exec and numbered (`workers.channels`).

A log-stream request is harmless to repeat: a copy streams to a channel nobody listens to and
stops at its first publish. An exec request is not: a copy would run its command again. So
before anything runs, `RequestGuard` admits a request only if its seal is fresh (made within
the seal window of this node's clock) and its nonce was never seen (remembered here and in
Redis for two windows), and the exec's channel must have its listener: the agent opens the
channel first, and a request whose API socket is gone (it waited longer than its node timeout)
runs nothing.

The command runs without a terminal and without stdin. When the listener leaves (the client
closed its socket, or pressed Ctrl-C), the agent stops reading and closes its connection to
Docker; the command itself runs on in the container until it ends, as under `docker exec`
without a terminal: Docker has no call that stops an exec'ed process, and this agent does not
reach into the node's process table to kill one.
"""

from __future__ import annotations

import codecs
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from controlplane.core import signing
from controlplane.core.errors import ContainerNotRunningError, ExecFailedError, error_code
from controlplane.core.messages import (
    EXEC_EXIT,
    EXEC_FAILED,
    EXEC_OPEN,
    EXEC_OUTPUT,
    EXEC_TICK,
    EXEC_TICK_SECONDS,
    ExecRequest,
    ExecStreamMessage,
    exec_channel,
    exec_subject,
)
from controlplane.core.signing import NodeToken, Seal
from workers.channels import ListenerGoneError, NodeChannel
from workers.docker.driver import DockerDriver
from workers.docker.observe import OUTPUT_STREAMS, ExecChunk, ExecFeed
from workers.errors import AgentError, NotRunningError

log = logging.getLogger(__name__)

# How long a request's nonce is remembered: two seal windows, since a seal may be that far
# ahead or behind this node's clock and still be fresh (as the reporter keeps its nonces).
NONCE_SECONDS = 2 * signing.SEAL_WINDOW_NS // 1_000_000_000
NOT_RUNNING = error_code(ContainerNotRunningError)
FAILED = error_code(ExecFailedError)
# Output already waiting is sent in messages of up to this many bytes, rather than one message
# for each of Docker's frames.
MAX_MESSAGE_BYTES = 64 * 1024


class RequestRefusedError(Exception):
    """An exec request that must not run: stale, replayed, or its nonce could not be kept."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RequestGuard:
    """Admits each sealed exec request once, while it is fresh.

    Nonces are kept in this process (so a broker client who deletes keys from Redis still cannot
    have a request run twice while this agent runs) and in Redis (so a restarted agent still
    knows them): a request is refused if either has seen its nonce.
    """

    def __init__(
        self,
        client: redis.Redis,
        node_uuid: str,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._node_uuid = node_uuid
        self._clock_ns = clock_ns
        self._monotonic = monotonic
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def admit(self, sealed: Seal) -> None:
        """Raises RequestRefusedError unless the request may run now, and marks it as run."""
        try:
            signing.check_fresh(sealed, now_ns=self._clock_ns())
        except signing.SealError as exc:
            raise RequestRefusedError(exc.reason) from None
        now = self._monotonic()
        with self._lock:
            self._seen = {nonce: until for nonce, until in self._seen.items() if until > now}
            if sealed.nonce in self._seen:
                raise RequestRefusedError("a replay: its nonce was used before")
            self._seen[sealed.nonce] = now + NONCE_SECONDS
        key = f"controlplane.exec-nonce.{self._node_uuid}.{sealed.nonce}"
        try:
            first = self._client.set(key, b"1", nx=True, ex=NONCE_SECONDS)
        except redis.RedisError as exc:
            raise RequestRefusedError(f"its nonce could not be recorded ({exc})") from None
        if not first:
            raise RequestRefusedError("a replay: its nonce was used before")


class ExecChannel(NodeChannel):
    """The sending end of one exec's channel."""

    def __init__(self, client: redis.Redis, stream_id: str, token: NodeToken) -> None:
        super().__init__(
            client,
            exec_channel(stream_id),
            exec_subject(stream_id),
            token,
            tick=ExecStreamMessage(kind=EXEC_TICK),
            tick_seconds=EXEC_TICK_SECONDS,
        )


class AgentStoppingError(Exception):
    """The agent is shutting down: the exec's listener is told so."""


class ExecStream:
    """One exec, run to its end by `run` in its own thread."""

    def __init__(
        self,
        driver: DockerDriver,
        channel: ExecChannel,
        request: ExecRequest,
        stopping: threading.Event,
    ) -> None:
        self.driver = driver
        self.channel = channel
        self.request = request
        self.stopping = stopping

    def run(self) -> None:
        """Open the channel, run the command, send its output and its exit code. Stops quietly
        once the listener is gone, since there is nobody left to tell."""
        name = self.request.stream_id
        try:
            self.channel.send(ExecStreamMessage(kind=EXEC_OPEN))
            exit_code = self._run()
            if exit_code is None:
                self._fail("the command's output ended, but Docker still shows it running", FAILED)
            else:
                self.channel.send(ExecStreamMessage(kind=EXEC_EXIT, exit_code=exit_code))
                log.info("exec %s: exit code %s", name, exit_code)
        except ListenerGoneError:
            log.info(
                "exec %s: the listener is gone; the command, if it runs, runs on in the "
                "container until it ends",
                name,
            )
        except NotRunningError as exc:
            self._fail(str(exc), NOT_RUNNING)
        except AgentError as exc:
            self._fail(str(exc), FAILED)
        except AgentStoppingError:
            self._fail("the node's agent is stopping", FAILED)
        except redis.RedisError as exc:
            log.warning("exec %s lost the broker: %s", name, exc)
        except Exception as exc:  # a bug must still end the client's stream
            log.exception("exec %s failed", name)
            self._fail(f"internal agent error: {exc!r}", FAILED)

    def _fail(self, reason: str, code: str) -> None:
        log.warning("exec %s: %s", self.request.stream_id, reason)
        send_failure(self.channel, reason, code)

    def _run(self) -> int | None:
        feed = self.driver.exec_feed(self.request.container_uuid, self.request.command)
        try:
            self._send_output(feed)
        finally:
            _close(feed)
        return self.driver.exec_exit_code(feed.exec_id)

    def _send_output(self, feed: ExecFeed) -> None:
        """Send the command's output until it ends; tick while it is quiet."""
        chunks: queue.Queue[ExecChunk | AgentError | None] = queue.Queue()
        threading.Thread(
            target=_pump,
            args=(feed, chunks),
            name=f"exec-{self.request.stream_id[:8]}",
            daemon=True,
        ).start()
        text = Utf8Streams()
        while True:
            if self.stopping.is_set():
                raise AgentStoppingError()
            try:
                first = chunks.get(timeout=EXEC_TICK_SECONDS)
            except queue.Empty:
                self.channel.keepalive()
                continue
            # Only the last item of a batch can be the end of the feed, or a failed read.
            batch = [first, *_waiting(chunks)] if isinstance(first, ExecChunk) else [first]
            output = [item for item in batch if isinstance(item, ExecChunk)]
            for stream, data in _coalesced(output):
                self._send_text(stream, text.decode(stream, data))
            end = batch[-1]
            if isinstance(end, AgentError):
                raise end
            if end is None:
                for stream in OUTPUT_STREAMS:
                    self._send_text(stream, text.decode(stream, b"", final=True))
                return

    def _send_text(self, stream: str, text: str) -> None:
        if text:
            self.channel.send(ExecStreamMessage(kind=EXEC_OUTPUT, stream=stream, text=text))


def send_failure(channel: ExecChannel, reason: str, code: str) -> None:
    """Tell the listener, if there still is one, why the exec did not run or ended."""
    try:
        channel.send(ExecStreamMessage(kind=EXEC_FAILED, error=reason, code=code))
    except (ListenerGoneError, redis.RedisError):
        pass


class Utf8Streams:
    """Bytes of each output stream decoded as UTF-8, with a character cut between two of
    Docker's frames put back together (bytes that are not UTF-8 become U+FFFD)."""

    def __init__(self) -> None:
        factory = codecs.getincrementaldecoder("utf-8")
        self._decoders = {stream: factory(errors="replace") for stream in OUTPUT_STREAMS}

    def decode(self, stream: str, data: bytes, *, final: bool = False) -> str:
        return str(self._decoders[stream].decode(data, final))


def _waiting(chunks: queue.Queue[Any]) -> list[Any]:
    """What is already queued, up to the end of the feed (None) and about MAX_MESSAGE_BYTES."""
    taken: list[Any] = []
    size = 0
    while size < MAX_MESSAGE_BYTES:
        try:
            item = chunks.get_nowait()
        except queue.Empty:
            break
        taken.append(item)
        if not isinstance(item, ExecChunk):
            break
        size += len(item.data)
    return taken


def _coalesced(chunks: list[ExecChunk]) -> list[tuple[str, bytes]]:
    """Consecutive chunks of one stream joined, in order."""
    joined: list[tuple[str, bytes]] = []
    for chunk in chunks:
        if joined and joined[-1][0] == chunk.stream:
            joined[-1] = (chunk.stream, joined[-1][1] + chunk.data)
        else:
            joined.append((chunk.stream, chunk.data))
    return joined


def _pump(feed: ExecFeed, chunks: queue.Queue[ExecChunk | AgentError | None]) -> None:
    """Move the feed's chunks to the queue, then None; a failed read is queued before it."""
    try:
        for chunk in feed:
            chunks.put(chunk)
    except AgentError as exc:
        chunks.put(exc)
    finally:
        chunks.put(None)


def _close(feed: ExecFeed) -> None:
    try:
        feed.close()
    except OSError:
        pass


class ExecStreams:
    """Admits the agent's exec requests and runs each in its own thread; stops them all at
    shutdown."""

    def __init__(self, driver: DockerDriver, client: redis.Redis, token: NodeToken) -> None:
        self.driver = driver
        self.client = client
        self.token = token
        self.guard = RequestGuard(client, token.node_uuid)
        self._stopping = threading.Event()

    def start(self, request: ExecRequest, sealed: Seal) -> None:
        channel = ExecChannel(self.client, request.stream_id, self.token)
        try:
            self.guard.admit(sealed)
        except RequestRefusedError as exc:
            log.warning(
                "refused exec %s in container %s: %s",
                request.stream_id,
                request.container_uuid,
                exc.reason,
            )
            # Whoever listens (a live socket, with a node whose clock is wrong) learns why; a
            # replay's channel has nobody on it.
            send_failure(channel, f"the node refused the request: {exc.reason}", FAILED)
            return
        stream = ExecStream(self.driver, channel, request, self._stopping)
        threading.Thread(
            target=stream.run, name=f"exec-{request.stream_id[:8]}", daemon=True
        ).start()
        # The command may hold secrets: the log names its program and how many arguments.
        log.info(
            "exec %s in container %s: %s with %d argument(s)",
            request.stream_id,
            request.container_uuid,
            request.command[0] if request.command else "",
            max(len(request.command) - 1, 0),
        )

    def stop(self) -> None:
        self._stopping.set()
