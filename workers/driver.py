"""DockerDriver: the only code that talks to Docker (ruff's banned-api rule enforces it).

Every container it creates carries the control-plane labels and the container's deterministic
`unique_name`, so every operation starts by looking the container up by label: a redelivered or
concurrent start finds the container the first one made instead of making a second (and if two
race to create, Docker's name uniqueness lets exactly one win). docker-py errors are translated
into `workers.errors` by class and status code.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from controlplane.lifecycle import State
from controlplane.messages import LABEL_CONTAINER_UUID, LABEL_NODE_UUID, ContainerSpec
from workers.errors import (
    AgentError,
    DockerOperationError,
    DockerUnavailableError,
    ImageMissingError,
    NameTakenError,
)

RESTART_POLICIES: dict[str, dict[str, str] | None] = {
    "OFF": None,
    "ON_FAILURE": {"Name": "on-failure"},
    "ALWAYS": {"Name": "always"},
}
# Docker's container statuses, folded onto the control plane's observable states.
_RUNNING_STATUSES = frozenset({"running", "restarting", "paused"})
_DOCKER_TIME = re.compile(
    r"^(?P<seconds>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d\d:\d\d)$"
)
# How long a create that lost a name race waits for the winner's container to appear.
_NAME_RACE_SECONDS = 10.0


@dataclass(frozen=True)
class Observation:
    """What Docker says about a container, and when Docker saw it so."""

    state: State
    observed_ns: int
    exit_code: int | None = None
    docker_id: str | None = None


@dataclass(frozen=True)
class LogLine:
    """One line a container wrote, on which stream, stamped with Docker's time for it."""

    stream: str
    observed_ns: int
    text: str


# A container's output streams, named as the log frames name them (tutum-api.md §6.2).
OUTPUT_STREAMS = ("stdout", "stderr")


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
class NodeFacts:
    docker_version: str
    cpu: int
    memory_mb: int


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


class DockerDriver:
    def __init__(
        self,
        base_url: str,
        *,
        node_uuid: str,
        pull_missing: bool = False,
        pool_size: int = 10,
        timeout: int = 120,
    ) -> None:
        self.node_uuid = node_uuid
        self.pull_missing = pull_missing
        self.client = docker.DockerClient(
            base_url=base_url, timeout=timeout, max_pool_size=pool_size
        )

    def close(self) -> None:
        self.client.close()

    def facts(self) -> NodeFacts:
        with _translated("read node facts"):
            info: dict[str, Any] = self.client.info()
        return NodeFacts(
            docker_version=str(info.get("ServerVersion", "")),
            cpu=int(info.get("NCPU", 0)),
            memory_mb=int(info.get("MemTotal", 0)) // (1024 * 1024),
        )

    def find(self, container_uuid: str) -> Container | None:
        """The Docker container of a control-plane container, running or not, if it exists."""
        with _translated("look up container"):
            found = self.client.containers.list(
                all=True, filters={"label": f"{LABEL_CONTAINER_UUID}={container_uuid}"}
            )
        return found[0] if found else None

    def start(self, spec: ContainerSpec, *, issued_ns: int) -> Observation:
        """Create the container if it does not exist yet, then start it unless it runs.

        A start that finds the container stopped *after* the start was issued is a redelivery
        overtaken by a later stop: it reports what it sees instead of undoing that stop. If
        Docker refuses to start a container this call created, the container is removed again,
        so a container back in Init has nothing on Docker; one found existing is left alone,
        since a concurrent delivery may own it.
        """
        container = self.find(spec.uuid)
        made_here = container is None
        if container is None:
            container, made_here = self._create(spec)
        if container.status not in _RUNNING_STATUSES:
            finished_ns = parse_docker_time(container.attrs["State"].get("FinishedAt"))
            if finished_ns is None or finished_ns < issued_ns:
                try:
                    with _translated("start container"):
                        container.start()
                        container.reload()
                except AgentError:
                    if made_here:
                        self._discard(container)
                    raise
        return observe(container)

    def stop(self, container_uuid: str, *, timeout: int) -> Observation:
        """Stop the container (SIGTERM, then SIGKILL after `timeout` s). A container that no
        longer exists is not running either, so it is reported Stopped rather than failed."""
        container = self.find(container_uuid)
        if container is None:
            return Observation(state=State.STOPPED, observed_ns=time.time_ns())
        with _translated("stop container"):
            container.stop(timeout=timeout)
            container.reload()
        return observe(container)

    def remove(self, container_uuid: str) -> Observation:
        """Remove the container and its anonymous volumes; already gone counts as removed."""
        container = self.find(container_uuid)
        if container is not None:
            try:
                with _translated("remove container"):
                    container.remove(force=True, v=True)
            except DockerOperationError:
                if self.find(container_uuid) is not None:
                    raise
        return Observation(state=State.TERMINATED, observed_ns=time.time_ns())

    def _discard(self, container: Container) -> None:
        """Best-effort removal; failing here is not worth hiding the start's own error for."""
        try:
            with _translated("remove container"):
                container.remove(force=True, v=True)
        except AgentError:
            pass

    def logs(self, container_uuid: str, *, tail: int | None) -> str:
        container = self.find(container_uuid)
        if container is None:
            return ""
        with _translated("read logs"):
            raw: bytes = container.logs(
                stdout=True, stderr=True, tail="all" if tail is None else tail
            )
        return raw.decode("utf-8", errors="replace")

    def log_feed(
        self,
        container_uuid: str,
        *,
        stream: str,
        tail: int | None,
        since_ns: int | None,
        follow: bool,
    ) -> LogFeed | None:
        """One output stream of a container's log, timestamped; None if there is no container.

        Docker's log API multiplexes stdout and stderr but docker-py's streaming reader drops
        the stream marker, so each stream is asked for on its own and the lines keep their
        stream by construction. `since_ns` is rounded down to Docker's whole seconds; callers
        drop the lines they have already seen by their nanosecond times.
        """
        container = self.find(container_uuid)
        if container is None:
            return None
        with _translated("read logs"):
            raw = container.logs(
                stdout=stream == "stdout",
                stderr=stream == "stderr",
                stream=True,
                follow=follow,
                timestamps=True,
                tail="all" if tail is None else tail,
                since=None if since_ns is None else since_ns // 1_000_000_000,
            )
        return LogFeed(stream, raw)

    def current_state(self, container_uuid: str) -> State | None:
        """Running or Stopped as Docker sees the container now; None once it is removed."""
        container = self.find(container_uuid)
        return None if container is None else observe(container).state

    def _create(self, spec: ContainerSpec) -> tuple[Container, bool]:
        """Create the container; (container, True) if this call made it, (container, False) if
        a concurrent delivery of the same start got there first."""
        try:
            return self._create_from_image(spec)
        except docker.errors.ImageNotFound:
            if not self.pull_missing:
                raise ImageMissingError(
                    f"image {spec.image_name} is not present on node {self.node_uuid} "
                    "and pulling is disabled (CONTROLPLANE_AGENT_PULL=never)"
                ) from None
        with _translated(f"pull image {spec.image_name}"):
            self.client.images.pull(spec.image_name)
        return self._create_from_image(spec)

    def _create_from_image(self, spec: ContainerSpec) -> tuple[Container, bool]:
        try:
            with _translated("create container", passthrough=(docker.errors.ImageNotFound,)):
                return self.client.containers.create(**self.create_options(spec)), True
        except DockerOperationError as exc:
            if _status(exc.__cause__) != 409:
                raise
        return self._owner_of_name(spec), False

    def _owner_of_name(self, spec: ContainerSpec) -> Container:
        """The container holding our deterministic name, if it is ours.

        Docker reserves a name before the container it names can be looked up, so a concurrent
        create that lost the race polls briefly for the winner's container.
        """
        deadline = time.monotonic() + _NAME_RACE_SECONDS
        while True:
            try:
                with _translated("look up container", passthrough=(docker.errors.NotFound,)):
                    holder = self.client.containers.get(spec.unique_name)
            except docker.errors.NotFound:
                holder = None
            if holder is not None and holder.labels.get(LABEL_CONTAINER_UUID) == spec.uuid:
                return holder
            if holder is not None or time.monotonic() > deadline:
                raise NameTakenError(
                    f"the name {spec.unique_name} is taken on this node by a container the "
                    "control plane did not create"
                )
            time.sleep(0.05)

    def create_options(self, spec: ContainerSpec) -> dict[str, Any]:
        """docker-py `containers.create` arguments for a spec. `init` runs docker-init as PID 1,
        so a stop takes milliseconds instead of the whole timeout for shells that ignore
        SIGTERM."""
        labels = {
            **spec.labels,
            LABEL_CONTAINER_UUID: spec.uuid,
            LABEL_NODE_UUID: self.node_uuid,
        }
        return {
            "image": spec.image_name,
            "name": spec.unique_name,
            "command": spec.run_command or None,
            "entrypoint": spec.entrypoint or None,
            "environment": {var["key"]: var["value"] for var in spec.container_envvars},
            "working_dir": spec.working_dir or None,
            "labels": labels,
            "mem_limit": f"{spec.memory}m" if spec.memory else None,
            "cpu_shares": spec.cpu_shares,
            "restart_policy": RESTART_POLICIES[spec.autorestart],
            "init": True,
            "detach": True,
        }


def observe(container: Container) -> Observation:
    """Fold Docker's view of a container into an observation stamped with Docker's own time."""
    state = container.attrs["State"]
    if container.status in _RUNNING_STATUSES:
        started = parse_docker_time(state.get("StartedAt"))
        return Observation(State.RUNNING, started or time.time_ns(), docker_id=container.id)
    finished = parse_docker_time(state.get("FinishedAt"))
    return Observation(
        State.STOPPED,
        finished or time.time_ns(),
        exit_code=int(state.get("ExitCode", 0)),
        docker_id=container.id,
    )


def _status(error: BaseException | None) -> int | None:
    return getattr(getattr(error, "response", None), "status_code", None)


@contextmanager
def _translated(doing: str, passthrough: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Turn docker-py errors into agent errors whose text is Docker's own explanation."""
    try:
        yield
    except passthrough:
        raise
    except docker.errors.APIError as exc:
        detail = exc.explanation or str(exc)
        raise DockerOperationError(f"{doing}: {detail}") from exc
    except docker.errors.DockerException as exc:
        raise DockerUnavailableError(f"{doing}: Docker Engine unavailable ({exc})") from exc
    except OSError as exc:  # requests' connection errors derive from OSError
        raise DockerUnavailableError(f"{doing}: Docker Engine unavailable ({exc})") from exc
