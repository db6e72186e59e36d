"""DockerDriver: the agent's operations on its node's Docker Engine (start, stop, redeploy,
remove, logs, exec, events and the picture of the whole node).

Every container it creates carries the control-plane labels and the container's deterministic
`unique_name`, so every operation starts by looking the container up by label (a first start by
trying to create it under that name): a redelivered or concurrent start finds the container the
first one made instead of making a second (and if two race to create, Docker's name uniqueness
lets exactly one win). A redeploy briefly has two containers with one uuid (the old one,
renamed, and its replacement); lookups prefer the newest and removal removes both. docker-py
errors are translated into `workers.errors` (see `workers.docker.errors`).

It must not import the agent's other modules (tasks, watcher, reports, relist, heartbeat, log
streams): they call the driver, never the other way round. Of the agent it knows only its errors
and `workers.inflight`, where it marks the removals it does on its own initiative.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import docker.errors
from docker.models.containers import Container

from controlplane.core.lifecycle import State
from controlplane.core.messages import (
    LABEL_CONTAINER_UUID,
    LABEL_NODE_UUID,
    Collect,
    ContainerSpec,
    DockerContainer,
)
from workers.docker.errors import root_reason, status_code, translated
from workers.docker.host import node_facts
from workers.docker.observe import (
    RUNNING_STATUSES,
    EventFeed,
    ExecFeed,
    LogFeed,
    created_ns,
    observe,
    parse_docker_time,
    shows_its_record,
)
from workers.docker.options import create_options, joins_network, keeping_volumes
from workers.docker.transport import open_client
from workers.engine import NodeFacts, NodeListing, Observation
from workers.errors import (
    AgentError,
    DockerOperationError,
    DockerUnavailableError,
    ImageMissingError,
    NameTakenError,
    NotRunningError,
    VolumeInUseError,
)
from workers.inflight import Inflight

# How long a create that lost a name race waits for the winner's container to appear.
_NAME_RACE_SECONDS = 10.0
# The name a container being replaced by a redeploy holds until its replacement runs.
_REPLACED_SUFFIX = "-replaced"
# How long an exec whose output has ended may still show as running: Docker closes the output
# a moment before it records the exit code.
_EXEC_EXIT_SECONDS = 5.0
# How long a removal Docker refused, another being under way, waits for that one to end (a
# container with a large anonymous volume takes seconds), and how often it looks.
_REMOVAL_WAIT_SECONDS = 30.0
_REMOVAL_POLL_SECONDS = 0.1

T = TypeVar("T")


class DockerDriver:
    """One node's Docker Engine, as the agent's tasks, watcher, relist, heartbeat and log
    streams use it; safe to share between their threads."""

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
        self.pull_missing = pull_missing
        self.publish_ip = publish_ip
        try:  # docker-py asks the Engine for its API version first
            self.client = open_client(base_url, timeout=timeout, pool_size=pool_size)
        except docker.errors.DockerException as exc:
            raise DockerUnavailableError(
                f"cannot reach the Docker Engine at {base_url} ({root_reason(exc).lower()})"
            ) from exc
        # Where the driver marks the containers it removes on its own initiative, whose destroy
        # events the watcher must not report.
        self._inflight = inflight
        self._network_lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def facts(self) -> NodeFacts:
        with translated("read node facts"):
            info: dict[str, Any] = self.client.info()
        return node_facts(info)

    def find(self, container_uuid: str) -> Container | None:
        """The Docker container of a control-plane container, running or not, if it exists;
        the newest one while a redeploy has two."""
        found = self._find_all(container_uuid)
        return found[0] if found else None

    def _find_all(self, container_uuid: str) -> list[Container]:
        """Every Docker container carrying the uuid, newest first, each inspected."""
        with translated("look up container"):
            found = self.client.containers.list(
                all=True, filters={"label": f"{LABEL_CONTAINER_UUID}={container_uuid}"}
            )
        return sorted(found, key=created_ns, reverse=True)

    def _listed(self, container_uuid: str) -> list[Container]:
        """Every Docker container carrying the uuid as Docker's list shows it (id, name,
        status), not inspected: one call to the Engine however many there are, for what needs
        no more than their ids (a stop, a removal), where `_find_all` makes one more each."""
        with translated("look up container"):
            return list(
                self.client.containers.list(
                    all=True,
                    filters={"label": f"{LABEL_CONTAINER_UUID}={container_uuid}"},
                    sparse=True,
                )
            )

    def start(
        self,
        spec: ContainerSpec,
        *,
        issued_ns: int,
        fresh: bool = False,
    ) -> Observation:
        """Create the container if it does not exist yet, then start it unless it runs.

        A `fresh` container (its record was never started) is created without a lookup first:
        a redelivery learns from Docker's name conflict that the first delivery made it, which
        saves a label search on every first start.

        If the start is refused, a container this call created is removed again,
        so a container back in Init has nothing on Docker; one found existing is left alone,
        since a concurrent delivery may own it.
        """
        container = None if fresh else self.find(spec.uuid)
        made_here = container is None
        if container is None:
            container, made_here = self._create(spec, self._options(spec))
        try:
            return self._start_unless_overtaken(container, issued_ns=issued_ns)
        except AgentError:
            if made_here:
                self._discard(container)
            raise

    def _start_unless_overtaken(self, container: Container, *, issued_ns: int) -> Observation:
        """Start the container unless it runs, or stopped *after* the operation was issued:
        then the operation is a redelivery overtaken by a later stop, and it reports what it
        sees instead of undoing that stop."""
        if container.status not in RUNNING_STATUSES:
            finished_ns = parse_docker_time(container.attrs["State"].get("FinishedAt"))
            if finished_ns is None or finished_ns < issued_ns:
                with translated("start container"):
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
        was_running = previous.status in RUNNING_STATUSES
        with translated("stop container"):
            previous.stop(timeout=stop_timeout)
        self._rename(previous, spec.unique_name + _REPLACED_SUFFIX)
        try:
            new, _ = self._create(spec, keeping_volumes(self._options(spec), previous))
        except AgentError:
            self._restore(previous, spec.unique_name, restart=was_running)
            raise
        with _leaving(State.STOPPED):
            self._remove_container(previous, volumes=False)
        return new

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
            return self._create(spec, self._options(spec))[0]

    def stop(self, container_uuid: str, *, timeout: int) -> Observation:
        """Stop the container (SIGTERM, then SIGKILL after `timeout` s). A container that no
        longer exists is not running either, so it is reported Stopped rather than failed.
        Mid-redeploy there may be two: then the newest is stopped, which takes inspecting
        both."""
        listed = self._listed(container_uuid)
        container = listed[0] if len(listed) == 1 else self.find(container_uuid)
        if container is None:
            return Observation(state=State.STOPPED, observed_ns=time.time_ns())
        with translated("stop container"):
            container.stop(timeout=timeout)
            container.reload()
        return observe(container)

    def remove(self, container_uuid: str) -> Observation:
        """Remove the container (both, mid-redeploy) and its anonymous volumes; already gone
        counts as removed."""
        try:
            for container in self._listed(container_uuid):
                self._remove_container(container, volumes=True)
        except DockerOperationError:
            # A concurrent delivery (or the autodestroy, or `docker rm` on the node) may be
            # removing it already, and Docker refuses a second removal while the first runs
            # (409, "removal ... is already in progress"): let that one finish; only what is
            # left after it is a failure.
            if not self._gone_within(container_uuid, _REMOVAL_WAIT_SECONDS):
                raise
        return Observation(state=State.TERMINATED, observed_ns=time.time_ns())

    def _gone_within(self, container_uuid: str, seconds: float) -> bool:
        """Whether no Docker container carries the uuid, now or within `seconds`."""
        gone = _polled(
            lambda: None if self._listed(container_uuid) else True, seconds, _REMOVAL_POLL_SECONDS
        )
        return gone is not None

    def _remove_container(self, container: Container, *, volumes: bool) -> None:
        """Force-remove one container; one that disappeared meanwhile counts as removed."""
        try:
            with translated("remove container"):
                container.remove(force=True, v=volumes)
        except DockerOperationError as exc:
            if status_code(exc.__cause__) != 404:
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
                with translated("restart container"):
                    container.start()
        except AgentError:
            pass

    def _rename(self, container: Container, name: str) -> None:
        if container.name != name:
            with translated("rename container"):
                container.rename(name)
                container.reload()

    def _check_volumes_unshared(self, container_uuid: str, volumes: list[str]) -> None:
        """Refuse to remove a named volume another container also uses."""
        for volume in volumes:
            with translated("look up volume users"):
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
                with translated("remove volume", passthrough=(docker.errors.NotFound,)):
                    self.client.volumes.get(volume).remove()
            except docker.errors.NotFound:
                pass

    def logs(self, container_uuid: str, *, tail: int | None) -> str:
        container = self.find(container_uuid)
        if container is None:
            return ""
        with translated("read logs"):
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
        with translated("read logs"):
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

    def exec_feed(self, container_uuid: str, command: list[str]) -> ExecFeed:
        """Run `command` in the container, without a terminal and without stdin (it reads end
        of file at once, as under `docker exec` without `-i`); its output, stdout and stderr
        apart, as it comes.

        Raises:
            NotRunningError: the container is not running here (stopped, paused, gone).
            DockerOperationError: Docker refused to make or start the exec.
        """
        container = self.find(container_uuid)
        if container is None:
            raise NotRunningError(f"container {container_uuid} is not on node {self.node_uuid}")
        if container.status != "running":
            raise NotRunningError(
                f"container {container_uuid} is {container.status} on node {self.node_uuid}: "
                "a command can only be run in a running container"
            )
        with translated("create the exec"):
            created = self.client.api.exec_create(
                container.id, command, stdout=True, stderr=True, stdin=False, tty=False
            )
        with translated("start the exec"):
            raw = self.client.api.exec_start(created["Id"], stream=True, demux=True)
        return ExecFeed(created["Id"], raw)

    def exec_exit_code(self, exec_id: str) -> int | None:
        """The exit code of an exec whose output has ended; None if Docker still shows it
        running after a few seconds (its output was closed from here, or Docker lost it)."""
        return _polled(lambda: self._exit_code(exec_id), _EXEC_EXIT_SECONDS, 0.02)

    def _exit_code(self, exec_id: str) -> int | None:
        """The exec's exit code, once Docker shows it ended; None while it runs."""
        with translated("inspect the exec"):
            inspected: dict[str, Any] = self.client.api.exec_inspect(exec_id)
        if not inspected.get("Running") and inspected.get("ExitCode") is not None:
            return int(inspected["ExitCode"])
        return None

    def node_picture(self) -> NodeListing:
        """Every container of this node, as Docker sees it now.

        `observations`: each control-plane uuid whose container ever ran. Mid-redeploy the
        newest container stands for its uuid; one created but never started yet is left out,
        since a start is about to report it (or the relist after), and so is one on its way out
        (`observe.LEAVING_STATUSES`), which is no longer its record's. `inventory`: every
        labelled Docker container, started or not, for orphan collection.
        """
        with translated("list containers"):
            found = self.client.containers.list(
                all=True, filters={"label": f"{LABEL_NODE_UUID}={self.node_uuid}"}
            )
        listing = NodeListing()
        for container in sorted(found, key=created_ns):
            uuid = container.labels[LABEL_CONTAINER_UUID]
            if shows_its_record(container.status):
                listing.observations[uuid] = observe(container)
            listing.inventory.append(
                DockerContainer(
                    container_uuid=uuid,
                    docker_id=container.id,
                    created_ns=created_ns(container),
                    status=container.status,
                )
            )
        return listing

    def collect(self, orphan: Collect) -> bool:
        """Remove an orphan the reporter found, if it is still what the reporter saw: the same
        Docker container, labelled for this node and uuid, and, for a `created_only` one, never
        started (a new start of its record adopts such a container). Returns whether it did."""
        try:
            with translated("inspect container", passthrough=(docker.errors.NotFound,)):
                container = self.client.containers.get(orphan.docker_id)
        except docker.errors.NotFound:
            return False
        labels = container.labels
        if (
            labels.get(LABEL_CONTAINER_UUID) != orphan.container_uuid
            or labels.get(LABEL_NODE_UUID) != self.node_uuid
            or (orphan.created_only and container.status != "created")
        ):
            return False
        self._inflight.removing(container.id)
        self._remove_container(container, volumes=True)
        return True

    def observe_id(self, docker_id: str) -> Observation | None:
        """Docker's view of one container by its Docker id; None once it is removed."""
        try:
            with translated("inspect container", passthrough=(docker.errors.NotFound,)):
                return observe(self.client.containers.get(docker_id))
        except docker.errors.NotFound:
            return None

    def remove_exited(self, docker_id: str) -> None:
        """Remove an exited container with its anonymous volumes (autodestroy)."""
        self._inflight.removing(docker_id)
        try:
            with translated("remove container", passthrough=(docker.errors.NotFound,)):
                self.client.api.remove_container(docker_id, v=True)
        except docker.errors.NotFound:
            pass

    def events(self) -> EventFeed:
        """Docker's container events for this node's containers, from now on, decoded; blocks
        between events. Docker Engine errors surface as `DockerUnavailableError`."""
        with translated("follow events"):
            raw = self.client.events(
                decode=True,
                filters={"type": "container", "label": f"{LABEL_NODE_UUID}={self.node_uuid}"},
            )
        return EventFeed(raw)

    def current_state(self, container_uuid: str) -> State | None:
        """Running or Stopped as Docker sees the container now; None once it is removed."""
        container = self.find(container_uuid)
        return None if container is None else observe(container).state

    def _options(self, spec: ContainerSpec) -> dict[str, Any]:
        return create_options(spec, node_uuid=self.node_uuid, publish_ip=self.publish_ip)

    def _create(self, spec: ContainerSpec, options: dict[str, Any]) -> tuple[Container, bool]:
        """Create the container from `options`; (container, True) if this call made it,
        (container, False) if a concurrent delivery of the same operation got there first."""
        if joins_network(spec):
            self._ensure_network(spec.network)
        try:
            return self._create_from_image(spec, options)
        except docker.errors.ImageNotFound:
            self._pull(spec.image_name)
        return self._create_from_image(spec, options)

    def _create_from_image(
        self, spec: ContainerSpec, options: dict[str, Any]
    ) -> tuple[Container, bool]:
        try:
            with translated("create container", passthrough=(docker.errors.ImageNotFound,)):
                host_config = self.client.api.create_host_config(**options["host_config"])
                created = self.client.api.create_container(
                    **{**options, "host_config": host_config}
                )
                return self._just_created(created["Id"]), True
        except DockerOperationError as exc:
            if status_code(exc.__cause__) != 409:
                raise
        return self._owner_of_name(spec), False

    def _ensure_network(self, name: str) -> None:
        """Create the user-defined bridge network `name` on this node unless it exists. Two
        agents' threads racing to create it may both succeed (Docker allows two networks of
        one name), so the creation is serialised in this process, the only one that makes
        networks on this node."""
        with self._network_lock, translated(f"create network {name}"):
            if self.client.networks.list(names=[name]):
                return
            self.client.networks.create(
                name, driver="bridge", labels={LABEL_NODE_UUID: self.node_uuid}
            )

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
            with translated("look up image", passthrough=(docker.errors.ImageNotFound,)):
                self.client.images.get(image_name)
        except docker.errors.ImageNotFound:
            self._pull(image_name)

    def _pull(self, image_name: str) -> None:
        if not self.pull_missing:
            raise ImageMissingError(
                f"image {image_name} is not present on node {self.node_uuid} "
                "and pulling is disabled (CONTROLPLANE_AGENT_PULL=never)"
            )
        with translated(f"pull image {image_name}"):
            self.client.images.pull(image_name)

    def _owner_of_name(self, spec: ContainerSpec) -> Container:
        """The container holding our deterministic name, if it is ours.

        Docker reserves a name before the container it names can be looked up, so a concurrent
        create that lost the race polls briefly for the winner's container.
        """
        holder = _polled(lambda: self._name_holder(spec), _NAME_RACE_SECONDS, 0.05)
        if holder is None or holder.labels.get(LABEL_CONTAINER_UUID) != spec.uuid:
            raise NameTakenError(
                f"the name {spec.unique_name} is taken on this node by a container the "
                "control plane did not create"
            )
        return holder

    def _name_holder(self, spec: ContainerSpec) -> Container | None:
        """The container holding the spec's name, if Docker can show it yet."""
        try:
            with translated("look up container", passthrough=(docker.errors.NotFound,)):
                return self.client.containers.get(spec.unique_name)
        except docker.errors.NotFound:
            return None


def _polled(check: Callable[[], T | None], seconds: float, interval: float) -> T | None:
    """The first answer of `check` that is not None, asked every `interval` seconds for at
    most `seconds` (and once more past them); None if it gave none. Docker records some things
    a moment after it says they are done: a name's container, an exec's exit code, a removal."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(interval)


@contextmanager
def _leaving(state: State) -> Iterator[None]:
    """Mark any agent error raised inside as having left the container in `state`."""
    try:
        yield
    except AgentError as exc:
        exc.state = state
        raise
