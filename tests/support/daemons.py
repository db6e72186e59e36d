"""Extra Docker daemons on this machine, so that several real nodes can be tested on one host.

Each daemon has its own socket, pid file, data root, exec root (and so its own containerd) and
its own bridge with its own subnet (`-b`, never `--bridge none`, which deletes the main daemon's
docker0), with no iptables rules of its own. Everything lives at fixed paths derived from the
daemon's name, so a run that was killed leaves nothing the next run cannot clear: `start` stops a
daemon still running from its pid file, deletes its bridge and starts afresh on the same roots,
where dockerd itself cleans up containers a killed daemon left behind; `stop` also ends the
containerd shims a daemon killed mid-start leaves, which nothing else ever would.

`start_extra_nodes` is the body of the `extra_nodes` fixture (tests/conftest.py): two such daemons,
each with a node agent of its own, registered with the session's plane; and of the fault suite's
`fault_node` (tests/faults/conftest.py): one more, whose dockerd its tests kill, since the
machine's own dockerd must never be killed. Each name has its own subnet (`SUBNET_INDEX`), so the
session's extra nodes and the fault suite's can run side by side.

Given `hosts`, `start_extra_nodes` runs those nodes on hosts of their own, network namespaces
(tests.support.netns): the dockerd and its bridge inside the namespace, and the agent too,
reaching the broker over the namespace's veth (tests/faults/test_partitions.py).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import docker
from docker.models.containers import Container

from controlplane.core.messages import LABEL_CONTAINER_UUID, LABEL_NODE_UUID
from tests.support.locations import IMAGE
from tests.support.plane import Plane
from tests.support.processes import Service, parent_pid, pid_alive, terminate
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from tests.support.netns import NetnsHost

RUN_ROOT = Path("/run")
DATA_ROOT = Path("/var/lib/controlplane-test-nodes")
STOP_TIMEOUT = 20


class ExtraDockerDaemon:
    """One extra dockerd, named like its bridge (`cpnode1`), on the subnet 10.201.<index>.0/24.

    With `netns` it runs inside that host's network namespace (`tests.support.netns`), with its
    bridge there, and forwards nothing out of it; its socket, roots and containerd are on this
    machine's filesystem as the others' are."""

    def __init__(
        self, name: str, index: int, log_dir: Path, *, netns: NetnsHost | None = None
    ) -> None:
        self.name = name
        self.index = index
        self.netns = netns
        self.run_dir = RUN_ROOT / name
        self.data_dir = DATA_ROOT / name
        self.pid_file = self.run_dir / "docker.pid"
        self.exec_root = self.run_dir / "exec"
        self.containerd_pid_file = self.exec_root / "containerd" / "containerd.pid"
        self.socket = self.run_dir / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.log_path = log_dir / f"dockerd-{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> docker.DockerClient:
        """Clear what an earlier run left, start the daemon and return a client once it answers."""
        self._stop_stale()
        self._clear_stale_containerd()
        self._make_bridge()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Connecting to a socket file nobody listens on leaks the client's socket, so a stale
        # one goes first and the client is made only once dockerd has made it again.
        self.socket.unlink(missing_ok=True)
        config = self.run_dir / "daemon.json"
        # Nothing from /etc/docker/daemon.json applies. No `default-address-pools` either:
        # given one, a daemon started with `-b` deleted the machine's docker0 (seen twice).
        config.write_text("{}\n")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(self.netns.enter() if self.netns else []),
                    "dockerd",
                    "-H",
                    self.url,
                    "--pidfile",
                    str(self.pid_file),
                    "--data-root",
                    str(self.data_dir),
                    "--exec-root",
                    str(self.exec_root),
                    "--config-file",
                    str(config),
                    "-b",
                    self.name,
                    "--iptables=false",
                    "--ip-masq=false",
                    # A host in a namespace reaches this machine only (tests.support.netns).
                    *(["--ip-forward=false"] if self.netns else []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return wait_for(self._client, timeout=60, interval=0.2)

    def load_image(self, source: docker.DockerClient, client: docker.DockerClient) -> None:
        """Copy the test image from the main daemon (nothing is ever pulled)."""
        client.images.load(b"".join(source.images.get(IMAGE).save(named=True)))

    def kill(self, sig: signal.Signals, timeout: float = 60) -> None:
        """End the daemon with `sig`, sent to its own pid, and wait until it has exited: SIGKILL
        as a crash ends it, SIGTERM as an operator's stop does (it stops its containers first).
        Its roots stay, so `start` brings it back with the containers it had."""
        assert self.process is not None and self.process.poll() is None
        containerd = _pid_in(self.containerd_pid_file)
        self.process.send_signal(sig)
        self.process.wait(timeout)
        if containerd is not None:
            # Killed with it by its parent-death signal, a moment after it.
            wait_for(lambda: not pid_alive(containerd), timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop the daemon, delete its bridge and its directories; safe to call twice."""
        if self.process is not None:
            terminate(self.process, STOP_TIMEOUT)
        self._kill_stray_shims()
        self._delete_bridge()
        # dockerd binds its data root onto itself and undoes it on a clean stop only.
        while _mounted(self.data_dir):
            subprocess.run(["umount", str(self.data_dir)], check=True, capture_output=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if DATA_ROOT.exists() and not any(DATA_ROOT.iterdir()):
            DATA_ROOT.rmdir()

    def _client(self) -> docker.DockerClient | None:
        """A client once the daemon answers (making one asks the daemon for its version)."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"dockerd {self.name} exited; see {self.log_path}")
        if not self.socket.exists():
            return None
        return docker.DockerClient(base_url=self.url)

    def _stop_stale(self) -> None:
        """Stop a daemon an earlier, killed run left running (found by its own pid file)."""
        pid = _pid_in(self.pid_file)
        if pid is None:
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            return
        if b"dockerd" not in cmdline or str(self.pid_file).encode() not in cmdline:
            return  # the pid was reused by someone else's process
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)

    def _clear_stale_containerd(self) -> None:
        """Remove the pid file of a containerd that died with its dockerd: dockerd takes the
        pid for a containerd still running (a zombie too, as kill -0 does) and waits in vain
        for its socket, until it gives up and exits."""
        pid = _pid_in(self.containerd_pid_file)
        if pid is not None and not pid_alive(pid):
            self.containerd_pid_file.unlink(missing_ok=True)

    def _kill_stray_shims(self) -> None:
        """Kill the containerd shims this daemon's containerd left, with the container processes
        they hold, once the daemon is gone for good: a start its dockerd was killed in the middle
        of leaves a shim that no containerd will ever end. They are found by this daemon's own
        containerd socket on their command line, so no other daemon's are touched."""
        address = str(self.exec_root / "containerd" / "containerd.sock").encode()
        shims = {
            pid
            for pid, cmdline in _processes()
            if b"containerd-shim" in cmdline and address in cmdline.split(b"\0")
        }
        held = [pid for pid, _ in _processes() if parent_pid(pid) in shims]
        for pid in [*held, *shims]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _make_bridge(self) -> None:
        self._delete_bridge()
        for command in (
            ["link", "add", "name", self.name, "type", "bridge"],
            ["addr", "add", f"10.201.{self.index}.1/24", "dev", self.name],
            ["link", "set", self.name, "up"],
        ):
            subprocess.run(self._ip(*command), check=True, capture_output=True)

    def _delete_bridge(self) -> None:
        subprocess.run(self._ip("link", "delete", self.name), capture_output=True)

    def _ip(self, *args: str) -> list[str]:
        """An `ip` command on the daemon's network: this machine's or its namespace's."""
        return ["ip", *(["-n", self.netns.name] if self.netns else []), *args]


def _pid_in(pid_file: Path) -> int | None:
    """The pid a daemon wrote, if its file is there (a daemon killed before exiting leaves it)."""
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _mounted(path: Path) -> bool:
    """Whether something is mounted on `path` (a bind of a directory onto itself too, which
    `Path.is_mount` cannot tell)."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    return any(line.split()[1] == str(path) for line in mounts)


def _processes() -> Iterator[tuple[int, bytes]]:
    """Every process of the machine, with its command line (NUL-separated)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield int(entry.name), (entry / "cmdline").read_bytes()
            except OSError:
                continue  # it ended meanwhile


class ExtraNode:
    """An extra daemon with its own node agent, registered with a control plane."""

    def __init__(
        self, daemon: ExtraDockerDaemon, client: docker.DockerClient, agent: Service, uuid: str
    ) -> None:
        self.daemon = daemon
        self.docker = client
        self.agent = agent
        self.uuid = uuid
        # The network namespace the daemon and the agent run in, if any.
        self.host = daemon.netns

    def containers(self, container_uuid: str) -> list[Container]:
        """The real Docker containers of a control-plane container on this node's daemon."""
        label = f"{LABEL_CONTAINER_UUID}={container_uuid}"
        return list(self.docker.containers.list(all=True, filters={"label": label}))

    def restart_daemon(self, sig: signal.Signals) -> None:
        """End the node's dockerd with `sig` and start it again on the same roots, with a new
        client; the agent is left alone, to find its Engine gone and back on its own."""
        self.daemon.kill(sig)
        self.docker.close()
        self.docker = self.daemon.start()

    def remove_containers(self) -> None:
        """Remove every container this node's agent made (by the node label)."""
        label = f"{LABEL_NODE_UUID}={self.uuid}"
        for container in self.docker.containers.list(all=True, filters={"label": label}):
            container.remove(force=True, v=True)


# Each extra daemon's bridge is on 10.201.<index>.0/24; the names are also the bridges'.
SUBNET_INDEX = {"cpnode1": 1, "cpnode2": 2, "cpfault": 9, "cpns1": 11, "cpns2": 12}
# The session's extra nodes (tests/conftest.py, `extra_nodes`) and their tags.
EXTRA_NODE_TAGS = {"cpnode1": "ssd,zone-a", "cpnode2": "zone-b"}
# The fault suite's node (tests/faults/conftest.py, `fault_node`), whose dockerd its tests kill.
FAULT_NODE_TAGS = {"cpfault": "dockerd-faults"}
# The partition tests' nodes (tests/faults/test_partitions.py), each on a host of its own: the
# network namespace of the same name (tests.support.netns).
NETNS_NODE_TAGS = {"cpns1": "host-a", "cpns2": "host-b"}


@contextmanager
def start_extra_nodes(
    plane: Plane,
    docker_client: docker.DockerClient,
    tags: Mapping[str, str] = EXTRA_NODE_TAGS,
    *,
    hosts: Mapping[str, NetnsHost] | None = None,
) -> Iterator[list[ExtraNode]]:
    """More real nodes, each a dockerd of its own (named as in `tags`, on its SUBNET_INDEX) with
    its own agent, tagged as in `tags`, registered with `plane`. Everything is removed
    afterwards, pass or fail, and the nodes are left Unreachable, so later tests never place
    containers on them.

    A node named in `hosts` runs on that network namespace: its dockerd and its agent run
    inside, the agent reaching the broker at this machine's end of the veth (which the broker
    must listen on) and publishing ports on the host's own address."""
    hosts = hosts or {}
    started: list[ExtraNode] = []
    daemons = [
        ExtraDockerDaemon(name, SUBNET_INDEX[name], plane.state_dir, netns=hosts.get(name))
        for name in tags
    ]
    admin = plane.client("alice")
    try:
        for daemon in daemons:
            client = daemon.start()
            daemon.load_image(docker_client, client)
            # A module-scoped fixture: each module's nodes are new ones, as new agents would be.
            node_uuid, token = plane.enroll(f"{daemon.name}-{secrets.token_hex(3)}")
            env = {
                **plane.env,
                "CONTROLPLANE_AGENT_DOCKER_URL": daemon.url,
                "CONTROLPLANE_AGENT_TOKEN": token,
                "CONTROLPLANE_AGENT_TAGS": tags[daemon.name],
            }
            wrapper: list[str] = []
            if daemon.netns is not None:
                broker_url = daemon.netns.broker_url(env["CONTROLPLANE_AGENT_BROKER_URL"])
                env["CONTROLPLANE_AGENT_BROKER_URL"] = broker_url
                env["CONTROLPLANE_AGENT_PUBLISH_IP"] = daemon.netns.address
                wrapper = daemon.netns.command()
            agent = Service(
                f"agent-{daemon.name}", ["agent"], env, plane.state_dir, wrapper=wrapper
            )
            plane.services[agent.name] = agent
            started.append(ExtraNode(daemon, client, agent, node_uuid))
        for node in started:
            admin.wait_node_state(node.uuid, "Deployed")
        yield started
    finally:
        for node in started:
            node.agent.stop()
            del plane.services[node.agent.name]
            node.remove_containers()
            node.docker.close()
        for daemon in daemons:
            daemon.stop()
        for node in started:
            if admin.node_state(node.uuid) is not None:
                admin.wait_node_state(node.uuid, "Unreachable")
