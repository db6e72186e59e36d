"""Log streams: a container's log lines sent, as they come, to one API socket's Redis channel.

A stream is asked for by a quick Celery task; the stream itself runs in a daemon thread of its
own, so a follower that lasts for hours never holds a slot of the task pool. Lines travel on
Redis pub/sub (`messages.log_channel`, through `workers.channels`), and a publish that reaches
no subscriber means the API socket is gone, which is how a stream learns to stop without any
message coming back. A quiet stream ticks every `LOG_TICK_SECONDS` for the same reason, and so
that the API can tell a dead agent from a quiet container.

stdout and stderr are read as two Docker log requests (see `DockerDriver.log_feed`). The tail is
the two tails merged by Docker's timestamps; following then reads both streams in a thread each,
from where the tail ended. Docker ends a follow when the container stops, so a stopped container
is watched until it runs again (and followed again from where it left off) or is removed, which
ends the stream.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator

import redis

from controlplane.core.lifecycle import State
from controlplane.core.messages import (
    LOG_END,
    LOG_LINE,
    LOG_OPEN,
    LOG_TICK,
    LOG_TICK_SECONDS,
    LogStreamMessage,
    LogStreamRequest,
    log_channel,
    log_subject,
)
from controlplane.core.signing import NodeToken
from workers.channels import ListenerGoneError, NodeChannel
from workers.docker.driver import DockerDriver
from workers.docker.observe import OUTPUT_STREAMS, LogFeed, LogLine
from workers.errors import AgentError

log = logging.getLogger(__name__)

# How often a stream looks whether a stopped container runs again or was removed.
POLL_SECONDS = 1.0


def merge_tail(feeds: Iterable[Iterable[LogLine]], tail: int | None) -> Iterator[LogLine]:
    """The last `tail` lines (all when None) of several streams, in Docker's time order.

    Each feed is in time order and holds at most `tail` lines, so the merge holds the answer; it
    is lazy when every line is wanted, so a long log is never held in memory.
    """
    merged = heapq.merge(*feeds, key=lambda line: line.observed_ns)
    return merged if tail is None else iter(deque(merged, maxlen=tail))


class LogChannel(NodeChannel):
    """The sending end of one log stream's channel: each message sealed with the node's key for
    this stream and numbered, so the API takes no line a broker client made up or repeated
    (`controlplane.api.logchannels`)."""

    def __init__(self, client: redis.Redis, stream_id: str, token: NodeToken) -> None:
        super().__init__(
            client,
            log_channel(stream_id),
            log_subject(stream_id),
            token,
            tick=LogStreamMessage(kind=LOG_TICK),
            tick_seconds=LOG_TICK_SECONDS,
        )


class LogStream:
    """One stream, run to its end by `run` in its own thread."""

    def __init__(
        self,
        driver: DockerDriver,
        channel: LogChannel,
        request: LogStreamRequest,
        stopping: threading.Event,
    ) -> None:
        self.driver = driver
        self.channel = channel
        self.request = request
        self.stopping = stopping

    def run(self) -> None:
        """Stream, then end the stream (with the error when one ended it). Stops quietly once
        the listener is gone, since there is nobody left to tell."""
        try:
            self.channel.send(LogStreamMessage(kind=LOG_OPEN))
            self._stream()
            self.channel.send(LogStreamMessage(kind=LOG_END))
        except ListenerGoneError:
            log.info("log stream %s: the listener is gone", self.request.stream_id)
        except AgentError as exc:
            self._end_with_error(str(exc))
        except redis.RedisError as exc:
            log.warning("log stream %s lost the broker: %s", self.request.stream_id, exc)
        except Exception as exc:  # a bug must still end the client's stream
            log.exception("log stream %s failed", self.request.stream_id)
            self._end_with_error(f"internal agent error: {exc!r}")

    def _end_with_error(self, reason: str) -> None:
        try:
            self.channel.send(LogStreamMessage(kind=LOG_END, error=reason))
        except (ListenerGoneError, redis.RedisError):
            pass

    def _stream(self) -> None:
        started_ns = time.time_ns()
        cursor = self._send_tail()
        if not self.request.follow:
            return
        if cursor is None and self.request.tail == 0:
            cursor = started_ns  # "no old lines": follow from now, not from the beginning
        while not self.stopping.is_set():
            state = self.driver.current_state(self.request.container_uuid)
            if state is None:
                return  # removed: the stream ends with the container
            if state is State.RUNNING:
                cursor = self._follow(cursor)
            else:
                self.channel.keepalive()
                self.stopping.wait(POLL_SECONDS)

    def _send_tail(self) -> int | None:
        """Send the tail; return the time of its last line (None when it had none)."""
        feeds = self._open_feeds(tail=self.request.tail, since_ns=None, follow=False)
        last = None
        try:
            for line in merge_tail(feeds, self.request.tail):
                self._send_line(line)
                last = line.observed_ns
        finally:
            _close(feeds)
        return last

    def _follow(self, cursor: int | None) -> int | None:
        """Send lines newer than `cursor` until Docker ends the follow (the container stopped)
        or the stream is stopped; return the time of the newest line seen."""
        feeds = self._open_feeds(tail=None, since_ns=cursor, follow=True)
        lines: queue.Queue[LogLine | None] = queue.Queue()
        for feed in feeds:
            threading.Thread(
                target=_pump, args=(feed, lines), name=f"logs-{feed.stream}", daemon=True
            ).start()
        newest, running = cursor, len(feeds)
        try:
            while running and not self.stopping.is_set():
                try:
                    line = lines.get(timeout=LOG_TICK_SECONDS)
                except queue.Empty:
                    self.channel.keepalive()
                    continue
                if line is None:
                    running -= 1
                elif cursor is None or line.observed_ns > cursor:
                    self._send_line(line)
                    newest = max(newest or 0, line.observed_ns)
        finally:
            _close(feeds)
        return newest

    def _open_feeds(self, *, tail: int | None, since_ns: int | None, follow: bool) -> list[LogFeed]:
        feeds = []
        for stream in OUTPUT_STREAMS:
            feed = self.driver.log_feed(
                self.request.container_uuid,
                stream=stream,
                tail=tail,
                since_ns=since_ns,
                follow=follow,
            )
            if feed is not None:
                feeds.append(feed)
        return feeds

    def _send_line(self, line: LogLine) -> None:
        self.channel.send(
            LogStreamMessage(
                kind=LOG_LINE, stream=line.stream, text=line.text, observed_ns=line.observed_ns
            )
        )


def _pump(feed: LogFeed, lines: queue.Queue[LogLine | None]) -> None:
    """Move a feed's lines to the queue, then None, even if reading failed."""
    try:
        for line in feed:
            lines.put(line)
    except AgentError as exc:
        log.warning("log feed %s ended: %s", feed.stream, exc)
    finally:
        lines.put(None)


def _close(feeds: list[LogFeed]) -> None:
    for feed in feeds:
        try:
            feed.close()
        except OSError:
            pass


class LogStreams:
    """Starts the agent's log streams, each in its own thread, and stops them all at shutdown."""

    def __init__(self, driver: DockerDriver, client: redis.Redis, token: NodeToken) -> None:
        self.driver = driver
        self.client = client
        self.token = token
        self._stopping = threading.Event()

    def start(self, request: LogStreamRequest) -> None:
        channel = LogChannel(self.client, request.stream_id, self.token)
        stream = LogStream(self.driver, channel, request, self._stopping)
        threading.Thread(
            target=stream.run, name=f"log-stream-{request.stream_id[:8]}", daemon=True
        ).start()
        log.info(
            "log stream %s of container %s (tail %s, follow %s)",
            request.stream_id,
            request.container_uuid,
            request.tail,
            request.follow,
        )

    def stop(self) -> None:
        self._stopping.set()
