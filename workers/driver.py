"""DockerDriver: the only code that talks to Docker (ruff's banned-api rule enforces it).

Every container it creates carries the control-plane labels and the container's deterministic
`unique_name`, so every operation starts by looking the container up by label (a first start by
trying to create it under that name): a redelivered or concurrent start finds the container the
first one made instead of making a second (and if two race to create, Docker's name uniqueness
lets exactly one win). A redeploy briefly has two
containers with one uuid (the old one, renamed, and its replacement); lookups prefer the newest
and removal removes both. docker-py errors are translated into `workers.errors` by class and
status code.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.transport import UnixHTTPAdapter
from docker.types import Mount

from controlplane.core.lifecycle import State
from controlplane.core.messages import (
    LABEL_AUTODESTROY,
    LABEL_CONTAINER_UUID,
    LABEL_NODE_UUID,
    ContainerSpec,
)
from workers.errors import (
    ActionCanceled,
    AgentError,
    DockerOperationError,
    DockerUnavailableError,
    ImageMissingError,
    NameTakenError,
    VolumeInUseError,
)
from workers.inflight import Inflight

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
# The name a container being replaced by a redeploy holds until its replacement runs.
_REPLACED_SUFFIX = "-replaced"
OOM_REASON = "killed: out of memory"


@dataclass(frozen=True)
class Observation:
    """What Docker says about a container, and when Docker saw it so."""

    state: State
    observed_ns: int
    exit_code: int | None = None
    docker_id: str | None = None
    # Host ports Docker bound ({protocol, inner_port, host_ip, outer_port}); none unless running.
    ports: list[dict[str, Any]] = field(default_factory=list)
    # Why it stopped or went away, when the exit code alone does not say (an OOM kill).
    reason: str | None = None


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


class EventFeed:
    """Docker's event stream; `close`, from any thread, ends the iteration."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with _translated("follow events"):
            yield from self._raw

    def close(self) -> None:
        self._raw.close()


@dataclass(frozen=True)
class NodeFacts:
    docker_version: str
    cpu: int
    memory_mb: int
    disk_gb: int


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
        inflight: Inflight,
        pull_missing: bool = False,
        publish_ip: str = "127.0.0.1",
        pool_size: int = 10,
        timeout: int = 120,
    ) -> None:
        self.node_uuid = node_uuid
        # Where the driver marks the containers it removes on its own initiative, whose destroy
        # events the watcher must not report (see workers.inflight).
        self._inflight = inflight
        self.pull_missing = pull_missing
        self.publish_ip = publish_ip
        self.client = docker.DockerClient(
            base_url=base_url, timeout=timeout, max_pool_size=pool_size
        )
        _pool_by_socket(self.client.api, timeout=timeout, pool_size=pool_size)

    def close(self) -> None:
        self.client.close()

    def facts(self) -> NodeFacts:
        with _translated("read node facts"):
            info: dict[str, Any] = self.client.info()
        return NodeFacts(
            docker_version=str(info.get("ServerVersion", "")),
            cpu=int(info.get("NCPU", 0)),
            memory_mb=int(info.get("MemTotal", 0)) // (1024 * 1024),
            disk_gb=_disk_gb(str(info.get("DockerRootDir", ""))),
        )

    def find(self, container_uuid: str) -> Container | None:
        """The Docker container of a control-plane container, running or not, if it exists;
        the newest one while a redeploy has two."""
        found = self._find_all(container_uuid)
        return found[0] if found else None

    def _find_all(self, container_uuid: str) -> list[Container]:
        """Every Docker container carrying the uuid, newest first."""
        with _translated("look up container"):
            found = self.client.containers.list(
                all=True, filters={"label": f"{LABEL_CONTAINER_UUID}={container_uuid}"}
            )
        return sorted(found, key=created_ns, reverse=True)

    def start(
        self,
        spec: ContainerSpec,
        *,
        issued_ns: int,
        fresh: bool = False,
        before_start: Callable[[], None] = lambda: None,
    ) -> Observation:
        """Create the container if it does not exist yet, then start it unless it runs.

        A `fresh` container (its record was never started) is created without a lookup first:
        a redelivery learns from Docker's name conflict that the first delivery made it, which
        saves a label search on every first start. `before_start` runs between the create and
        the start and may raise `ActionCanceled` to call the start off.

        If the start is refused or called off, a container this call created is removed again,
        so a container back in Init has nothing on Docker; one found existing is left alone,
        since a concurrent delivery may own it.
        """
        container = None if fresh else self.find(spec.uuid)
        made_here = container is None
        if container is None:
            container, made_here = self._create(spec, self.create_options(spec))
        try:
            before_start()
            return self._start_unless_overtaken(container, issued_ns=issued_ns)
        except (AgentError, ActionCanceled):
            if made_here:
                self._discard(container)
            raise

    def _start_unless_overtaken(self, container: Container, *, issued_ns: int) -> Observation:
        """Start the container unless it runs, or stopped *after* the operation was issued:
        then the operation is a redelivery overtaken by a later stop, and it reports what it
        sees instead of undoing that stop."""
        if container.status not in _RUNNING_STATUSES:
            finished_ns = parse_docker_time(container.attrs["State"].get("FinishedAt"))
            if finished_ns is None or finished_ns < issued_ns:
                with _translated("start container"):
                    container.start()
                    container.reload()
        return observe(container)

    def redeploy(
        self, spec: ContainerSpec, *, issued_ns: int, reuse_volumes: bool, stop_timeout: int
    ) -> Observation:
        """Replace the Docker container with a fresh one made from `spec`, under the same uuid,
        and start it.

        With `reuse_volumes` the new container takes over the old one's volumes (anonymous ones
        through `volumes_from`, named ones by name); without, the old container's anonymous
        volumes are removed with it and its named volumes are removed and made again empty.

        Safe to deliver again: a container created at or after `issued_ns` is this redeploy's
        own (or a later one's), so a redelivery finishes that one, removing what is left of the
        old one, instead of replacing it a second time; and, as for a start, it does not start
        a new container that was stopped after the redeploy was issued.
        """
        existing = self._find_all(spec.uuid)
        fresh = [c for c in existing if created_ns(c) >= issued_ns]
        stale = [c for c in existing if created_ns(c) < issued_ns]
        if fresh:
            new = fresh[0]
            with _leaving(State.STOPPED):
                for old in stale:
                    self._remove_container(old, volumes=not reuse_volumes)
        elif reuse_volumes and stale:
            new = self._replace_keeping_volumes(spec, stale, stop_timeout=stop_timeout)
        else:
            new = self._replace_with_new_volumes(spec, stale)
        # The old container is gone by now: a failure to start leaves the container Stopped.
        with _leaving(State.STOPPED):
            return self._start_unless_overtaken(new, issued_ns=issued_ns)

    def _replace_keeping_volumes(
        self, spec: ContainerSpec, stale: list[Container], *, stop_timeout: int
    ) -> Container:
        """Stop the newest old container and rename it aside, create the new one beside it
        with its volumes, then remove it (keeping the volumes). If the new container cannot be
        made, the old one is put back as it was, so the reported rollback state is true."""
        self._ensure_image(spec.image_name)
        previous, *older = stale
        for other in older:
            self._remove_container(other, volumes=True)
        was_running = previous.status in _RUNNING_STATUSES
        with _translated("stop container"):
            previous.stop(timeout=stop_timeout)
        self._rename(previous, spec.unique_name + _REPLACED_SUFFIX)
        try:
            new, _ = self._create(spec, self._options_keeping_volumes(spec, previous))
        except AgentError:
            self._restore(previous, spec.unique_name, restart=was_running)
            raise
        with _leaving(State.STOPPED):
            self._remove_container(previous, volumes=False)
        return new

    def _options_keeping_volumes(self, spec: ContainerSpec, previous: Container) -> dict[str, Any]:
        """Create options that mount every volume of `previous` at the same place. Its anonymous
        volumes come through `volumes_from`, which keeps them anonymous (removed with the new
        container later); the spec's own anonymous volumes at those places are left out, or
        they would hide the old data under new empty volumes."""
        options = self.create_options(spec)
        host_config = options["host_config"]
        carried = {mount["Destination"] for mount in previous.attrs.get("Mounts") or ()}
        host_config["mounts"] = [
            mount
            for mount in host_config["mounts"]
            if mount["Source"] is not None or mount["Target"] not in carried
        ]
        host_config["volumes_from"] = [previous.id]
        return options

    def _replace_with_new_volumes(self, spec: ContainerSpec, stale: list[Container]) -> Container:
        """Remove the old containers with their anonymous volumes and the spec's named volumes,
        then create the new container, which gets fresh ones. Everything that can be checked
        (the image, nobody else using a named volume) is checked before anything is removed."""
        self._ensure_image(spec.image_name)
        named = [binding["volume"] for binding in spec.bindings if binding["volume"]]
        self._check_volumes_unshared(spec.uuid, named)
        with _leaving(State.STOPPED):
            for old in stale:
                self._remove_container(old, volumes=True)
            self._remove_volumes(named)
            return self._create(spec, self.create_options(spec))[0]

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
        """Remove the container (both, mid-redeploy) and its anonymous volumes; already gone
        counts as removed."""
        try:
            for container in self._find_all(container_uuid):
                self._remove_container(container, volumes=True)
        except DockerOperationError:
            # A concurrent delivery may be removing it already; only what is left is a failure.
            if self.find(container_uuid) is not None:
                raise
        return Observation(state=State.TERMINATED, observed_ns=time.time_ns())

    def _remove_container(self, container: Container, *, volumes: bool) -> None:
        """Force-remove one container; one that disappeared meanwhile counts as removed."""
        try:
            with _translated("remove container"):
                container.remove(force=True, v=volumes)
        except DockerOperationError as exc:
            if _status(exc.__cause__) != 404:
                raise

    def _discard(self, container: Container) -> None:
        """Best-effort removal; failing here is not worth hiding the start's own error for."""
        self._inflight.removing(container.id)
        try:
            self._remove_container(container, volumes=True)
        except AgentError:
            pass

    def _restore(self, container: Container, name: str, *, restart: bool) -> None:
        """Best effort: give a container its name back and restart it if it ran."""
        try:
            self._rename(container, name)
            if restart:
                with _translated("restart container"):
                    container.start()
        except AgentError:
            pass

    def _rename(self, container: Container, name: str) -> None:
        if container.name != name:
            with _translated("rename container"):
                container.rename(name)
                container.reload()

    def _check_volumes_unshared(self, container_uuid: str, volumes: list[str]) -> None:
        """Refuse to remove a named volume another container also uses."""
        for volume in volumes:
            with _translated("look up volume users"):
                users = self.client.containers.list(all=True, filters={"volume": volume})
            others = [c.name for c in users if c.labels.get(LABEL_CONTAINER_UUID) != container_uuid]
            if others:
                raise VolumeInUseError(
                    f"volume {volume} is also used by {', '.join(sorted(others))}; nothing was "
                    "changed (redeploy with reuse_volumes=true to keep it)"
                )

    def _remove_volumes(self, volumes: list[str]) -> None:
        for volume in volumes:
            try:
                with _translated("remove volume", passthrough=(docker.errors.NotFound,)):
                    self.client.volumes.get(volume).remove()
            except docker.errors.NotFound:
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

    def node_picture(self) -> dict[str, Observation]:
        """Every container of this node that ever ran, by control-plane uuid, as Docker sees it
        now. Mid-redeploy the newest container stands for its uuid; one created but never
        started yet is left out, since a start is about to report it (or the relist after)."""
        with _translated("list containers"):
            found = self.client.containers.list(
                all=True, filters={"label": f"{LABEL_NODE_UUID}={self.node_uuid}"}
            )
        picture: dict[str, Observation] = {}
        for container in sorted(found, key=created_ns):
            if container.status != "created":
                picture[container.labels[LABEL_CONTAINER_UUID]] = observe(container)
        return picture

    def observe_id(self, docker_id: str) -> Observation | None:
        """Docker's view of one container by its Docker id; None once it is removed."""
        try:
            with _translated("inspect container", passthrough=(docker.errors.NotFound,)):
                return observe(self.client.containers.get(docker_id))
        except docker.errors.NotFound:
            return None

    def remove_exited(self, docker_id: str) -> None:
        """Remove an exited container with its anonymous volumes (autodestroy)."""
        self._inflight.removing(docker_id)
        try:
            with _translated("remove container", passthrough=(docker.errors.NotFound,)):
                self.client.api.remove_container(docker_id, v=True)
        except docker.errors.NotFound:
            pass

    def events(self) -> EventFeed:
        """Docker's container events for this node's containers, from now on, decoded; blocks
        between events. Docker Engine errors surface as `DockerUnavailableError`."""
        with _translated("follow events"):
            raw = self.client.events(
                decode=True,
                filters={"type": "container", "label": f"{LABEL_NODE_UUID}={self.node_uuid}"},
            )
        return EventFeed(raw)

    def current_state(self, container_uuid: str) -> State | None:
        """Running or Stopped as Docker sees the container now; None once it is removed."""
        container = self.find(container_uuid)
        return None if container is None else observe(container).state

    def _create(self, spec: ContainerSpec, options: dict[str, Any]) -> tuple[Container, bool]:
        """Create the container from `options`; (container, True) if this call made it,
        (container, False) if a concurrent delivery of the same operation got there first."""
        try:
            return self._create_from_image(spec, options)
        except docker.errors.ImageNotFound:
            self._pull(spec.image_name)
        return self._create_from_image(spec, options)

    def _create_from_image(
        self, spec: ContainerSpec, options: dict[str, Any]
    ) -> tuple[Container, bool]:
        try:
            with _translated("create container", passthrough=(docker.errors.ImageNotFound,)):
                host_config = self.client.api.create_host_config(**options["host_config"])
                created = self.client.api.create_container(
                    **{**options, "host_config": host_config}
                )
                return self._just_created(created["Id"]), True
        except DockerOperationError as exc:
            if _status(exc.__cause__) != 409:
                raise
        return self._owner_of_name(spec), False

    def _just_created(self, docker_id: str) -> Container:
        """A container Docker has just created, without asking Docker about it: it is in status
        "created" and has never run, which is all the start needs to know, and an inspect
        would cost a round trip on every start. Its `reload()` after the start fills in the
        rest."""
        return self.client.containers.prepare_model(
            {"Id": docker_id, "State": {"Status": "created"}}
        )

    def _ensure_image(self, image_name: str) -> None:
        """Make sure the image is on the node before anything is changed for it."""
        try:
            with _translated("look up image", passthrough=(docker.errors.ImageNotFound,)):
                self.client.images.get(image_name)
        except docker.errors.ImageNotFound:
            self._pull(image_name)

    def _pull(self, image_name: str) -> None:
        if not self.pull_missing:
            raise ImageMissingError(
                f"image {image_name} is not present on node {self.node_uuid} "
                "and pulling is disabled (CONTROLPLANE_AGENT_PULL=never)"
            )
        with _translated(f"pull image {image_name}"):
            self.client.images.pull(image_name)

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
        """docker-py low-level `create_container` arguments for a spec, with the arguments of
        `create_host_config` under "host_config". Empty options are passed as None so Docker's
        own defaults apply. `init` runs docker-init as PID 1, so a stop takes milliseconds
        instead of the whole timeout for shells that ignore SIGTERM.

        The low-level call is used because it can expose a port without binding it (`ports`
        lists every port, `port_bindings` only the published ones); the high-level
        `containers.create` can only express that with an empty binding list, which Docker
        20.10 mishandles (its nat.SortPortMap then binds another port twice).
        """
        labels = {
            **spec.labels,
            LABEL_CONTAINER_UUID: spec.uuid,
            LABEL_NODE_UUID: self.node_uuid,
            LABEL_AUTODESTROY: spec.autodestroy,
        }
        return {
            "image": spec.image_name,
            "name": spec.unique_name,
            "command": spec.run_command or None,
            "entrypoint": spec.entrypoint or None,
            "environment": {var["key"]: var["value"] for var in spec.container_envvars},
            "working_dir": spec.working_dir or None,
            "user": spec.user or None,
            "hostname": spec.hostname or None,
            "domainname": spec.domainname or None,
            "mac_address": spec.mac_address or None,
            "labels": labels,
            "tty": spec.tty,
            "stdin_open": spec.stdin_open,
            "detach": True,
            "ports": [(port["inner_port"], port["protocol"]) for port in spec.container_ports],
            "host_config": {
                "port_bindings": self._port_bindings(spec.container_ports),
                "mem_limit": _megabytes(spec.memory),
                "memswap_limit": _megabytes(spec.memory_swap),
                "cpu_shares": spec.cpu_shares,
                "cpuset_cpus": spec.cpuset or None,
                "read_only": spec.read_only,
                "privileged": spec.privileged,
                "network_mode": spec.net,
                "pid_mode": "host" if spec.pid == "host" else None,
                "dns": spec.dns or None,
                "dns_search": spec.dns_search or None,
                "extra_hosts": spec.extra_hosts or None,
                "cap_add": spec.cap_add or None,
                "cap_drop": spec.cap_drop or None,
                "devices": spec.devices or None,
                "security_opt": spec.security_opt or None,
                "mounts": [_mount(binding) for binding in spec.bindings],
                "restart_policy": RESTART_POLICIES[spec.autorestart],
                "init": True,
            },
        }

    def _port_bindings(self, ports: list[dict[str, Any]]) -> dict[str, Any]:
        """docker-py `port_bindings`: each published port bound on the agent's publish address
        (a None outer port lets Docker pick a free one). Unpublished ports are only exposed."""
        return {
            f"{port['inner_port']}/{port['protocol']}": (self.publish_ip, port["outer_port"])
            for port in ports
            if port["published"]
        }


class _SocketPoolAdapter(UnixHTTPAdapter):
    """docker-py's unix socket adapter with one connection pool for the socket.

    docker-py keys the adapter's pools by the whole request URL (up to 25, least recently used
    closed first), so every request about a container it has not just used (the inspect, start,
    stop and removal of each new container) opens a new connection to the Engine and sooner or
    later closes a pool. On a unix socket every URL reaches the same Engine, so one pool serves
    them all and its connections are kept alive.
    """

    def get_connection(self, url: str, proxies: dict[str, str] | None = None) -> Any:
        return super().get_connection("http+docker://localhost", proxies)


def _pool_by_socket(api: docker.APIClient, *, timeout: int, pool_size: int) -> None:
    """Give a client of a unix socket one pooled connection set, and stop it reading proxy
    and netrc settings from the environment for every request: they mean nothing on a socket
    (docker-py ignores the proxies there anyway) and cost about a third of the client's CPU
    per call."""
    adapter = api.adapters.get("http+docker://")
    if not isinstance(adapter, UnixHTTPAdapter):  # tcp://, ssh://: pooled by host already
        return
    pooled = _SocketPoolAdapter(
        "http+unix://" + adapter.socket_path, timeout, max_pool_size=pool_size
    )
    api.mount("http+docker://", pooled)
    api._custom_adapter = pooled  # what docker-py falls back on for the socket's scheme
    api.trust_env = False
    adapter.close()


def _megabytes(value: int | None) -> int | str | None:
    """A size in MB as docker-py takes it; -1 (no swap limit) passes through."""
    if value is None or value < 0:
        return value
    return f"{value}m"


def _mount(binding: dict[str, Any]) -> Mount:
    """A binding as a Docker mount: a host path is a bind mount; a named volume, or neither (a
    new anonymous volume), a volume mount. A missing host path fails the create (Docker's
    mounts API does not create it, unlike the old `-v`)."""
    host_path = binding["host_path"]
    return Mount(
        target=binding["container_path"],
        source=host_path or binding["volume"],
        type="bind" if host_path else "volume",
        read_only=not binding["rewritable"],
    )


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


def observe(container: Container) -> Observation:
    """Fold Docker's view of a container into an observation stamped with Docker's own time."""
    state = container.attrs["State"]
    if container.status in _RUNNING_STATUSES:
        started = parse_docker_time(state.get("StartedAt"))
        return Observation(
            State.RUNNING,
            started or time.time_ns(),
            docker_id=container.id,
            ports=bound_ports(container.attrs),
        )
    finished = parse_docker_time(state.get("FinishedAt"))
    return Observation(
        State.STOPPED,
        finished or time.time_ns(),
        exit_code=int(state.get("ExitCode", 0)),
        docker_id=container.id,
        reason=OOM_REASON if state.get("OOMKilled") else None,
    )


def _disk_gb(path: str) -> int:
    """Size of the file system holding Docker's data root; 0 when this process cannot see it
    (an agent running in a container without the host's data root mounted)."""
    try:
        return shutil.disk_usage(path).total // 1_000_000_000
    except OSError:
        return 0


def _status(error: BaseException | None) -> int | None:
    return getattr(getattr(error, "response", None), "status_code", None)


@contextmanager
def _leaving(state: State) -> Iterator[None]:
    """Mark any agent error raised inside as having left the container in `state`."""
    try:
        yield
    except AgentError as exc:
        exc.state = state
        raise


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
