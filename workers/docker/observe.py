"""Reading what Docker says: a container's inspect data folded into an `Observation`, Docker's
RFC 3339 times as epoch nanoseconds, and the log and event streams the driver opens.

Every observation is stamped with Docker's own time for it, so the reporter can order the
agent's reports by when Docker saw them. This module asks the Engine nothing: it must not import
the driver, the client (`transport`) or `options`; only `errors`, for a stream that fails while
it is read, and the docker-free shapes of what it reads (`workers.engine`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from docker.models.containers import Container

from controlplane.core.lifecycle import State
from workers.docker.errors import translated
from workers.engine import Observation

# Docker's container statuses, folded onto the control plane's observable states.
RUNNING_STATUSES = frozenset({"running", "restarting", "paused"})
# A container on its way out: Docker is removing it, or a removal failed halfway ("dead": it can
# never be started again, and Docker finishes the removal when it starts next). It is no longer
# its record's container: one a first start that failed was discarding when its Engine went away
# would otherwise be adopted by the record, which would then be lost when Docker removes it.
LEAVING_STATUSES = frozenset({"removing", "dead"})
_DOCKER_TIME = re.compile(
    r"^(?P<seconds>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d\d:\d\d)$"
)
OOM_REASON = "killed: out of memory"
# A container's output streams, named as the log frames name them (docs/api.md §6.2).
OUTPUT_STREAMS = ("stdout", "stderr")


@dataclass(frozen=True)
class LogLine:
    """One line a container wrote, on which stream, stamped with Docker's time for it."""

    stream: str
    observed_ns: int
    text: str


class LogFeed:
    """The lines of one of a container's output streams as Docker sends them.

    Iterating blocks while a followed container is quiet; `close`, from any thread, ends the
    iteration by closing the connection to Docker.
    """

    def __init__(self, stream: str, raw: Any) -> None:
        self.stream = stream
        self._raw = raw

    def __iter__(self) -> Iterator[LogLine]:
        for frame in self._raw:
            yield parse_log_frame(self.stream, frame)

    def close(self) -> None:
        self._raw.close()


@dataclass(frozen=True)
class ExecChunk:
    """Output of an exec'ed command as Docker handed it over: bytes of one stream, cut wherever
    Docker's frames are (not at lines, nor at UTF-8 characters)."""

    stream: str
    data: bytes


class ExecFeed:
    """The output of one exec'ed command, stdout and stderr apart, until the command ends.

    Iterating blocks while the command is quiet; `close`, from any thread, ends the iteration by
    closing the connection to Docker (the command itself runs on: Docker has no call to stop an
    exec'ed process).
    """

    def __init__(self, exec_id: str, raw: Any) -> None:
        self.exec_id = exec_id
        self._raw = raw

    def __iter__(self) -> Iterator[ExecChunk]:
        with translated("read the command's output"):
            for stdout, stderr in self._raw:
                for stream, data in zip(OUTPUT_STREAMS, (stdout, stderr), strict=True):
                    if data:
                        yield ExecChunk(stream, data)

    def close(self) -> None:
        self._raw.close()


class EventFeed:
    """Docker's event stream; `close`, from any thread, ends the iteration."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with translated("follow events"):
            yield from self._raw

    def close(self) -> None:
        self._raw.close()


def parse_docker_time(value: str | None) -> int | None:
    """Nanoseconds since the epoch from Docker's RFC 3339 time (nanosecond precision), or None
    for Docker's zero time. datetime keeps only microseconds, so the fraction is parsed apart."""
    if not value or value.startswith("0001-01-01"):
        return None
    match = _DOCKER_TIME.match(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    zone = match["zone"]
    seconds = datetime.fromisoformat(match["seconds"] + ("+00:00" if zone in "Zz" else zone))
    nanos = int((match["fraction"] or "").ljust(9, "0")[:9])
    return int(seconds.timestamp()) * 1_000_000_000 + nanos


def parse_log_frame(stream: str, frame: bytes) -> LogLine:
    """A line of a log read with timestamps: Docker's RFC 3339 time, one space, the line (with
    its newline). A frame without a readable time keeps all its text, stamped now."""
    stamp, _, text = frame.partition(b" ")
    try:
        observed_ns = parse_docker_time(stamp.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        observed_ns, text = None, frame
    return LogLine(stream, observed_ns or time.time_ns(), text.decode("utf-8", errors="replace"))


def created_ns(container: Container) -> int:
    """When Docker created the container; a redeploy tells old containers from new by it."""
    return parse_docker_time(container.attrs.get("Created")) or 0


def bound_ports(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """The host ports Docker bound, from a container's inspect data (`attrs`); none while it is
    not running, and none for a port that is only exposed."""
    ports = []
    for key, bindings in sorted((attrs["NetworkSettings"].get("Ports") or {}).items()):
        if bindings:
            inner, _, protocol = key.partition("/")
            ports.append(
                {
                    "protocol": protocol,
                    "inner_port": int(inner),
                    "host_ip": bindings[0]["HostIp"],
                    "outer_port": int(bindings[0]["HostPort"]),
                }
            )
    return ports


def shows_its_record(status: str) -> bool:
    """Whether a listed container, by its Docker status, shows its record's state to a relist:
    not while it was never started (its start is about to report it, or failed and left it to
    orphan collection), nor once it is on its way out (LEAVING_STATUSES)."""
    return status != "created" and status not in LEAVING_STATUSES


def observe(container: Container) -> Observation:
    """Fold Docker's view of a container into an observation stamped with Docker's own time."""
    state = container.attrs["State"]
    if container.status in RUNNING_STATUSES:
        started = parse_docker_time(state.get("StartedAt"))
        return Observation(
            State.RUNNING,
            started or time.time_ns(),
            docker_id=container.id,
            ports=bound_ports(container.attrs),
            paused=container.status == "paused",
        )
    finished = parse_docker_time(state.get("FinishedAt"))
    return Observation(
        State.STOPPED,
        finished or time.time_ns(),
        exit_code=int(state.get("ExitCode", 0)),
        docker_id=container.id,
        reason=OOM_REASON if state.get("OOMKilled") else None,
    )
