"""Network namespaces as separate hosts, each joined to this machine by a veth pair of its own.

A host `cpns<n>` is the network namespace `cpns<n>` with the veth end `cpns<n>-n` at
10.230.<n>.2/30, whose other end, `cpns<n>-h`, is on this machine at 10.230.<n>.1/30: the host's
only way out is that link, to this machine's address on it. There is no default route in the
namespace, no forwarding out of it and no NAT, so nothing started there reaches anything but the
namespace itself and that one address; and this machine has an `unreachable` route for
10.230.<n>.0/24, so while the link is cut (`cut`), what it still sends to the host (a broker's
retransmissions) fails here instead of taking the default route off the machine.

Everything has a fixed name derived from the host's, so a run that was killed leaves nothing the
next run cannot clear: `create` first ends the processes a killed run left in a namespace of the
same name (found by `ip netns pids`, so only processes in that namespace: a dockerd and an
agent this suite started there), then deletes the namespace, the veth and the route, and makes
them afresh. `delete` does the same without making anything; both are safe to call twice.

Commands run inside with `run` or with `command` as a prefix (`ip netns exec`). A dockerd is
started with `enter` (nsenter into the network namespace only): `ip netns exec` also gives its
process a mount namespace of its own with a fresh /sys, where this machine's cgroup hierarchy
is not mounted, and a dockerd without it does not start.

`require` skips a test when network namespaces cannot be made here, and fails it under CI
(CI=true), where a missing capability must not pass unseen (as tests/support/postgres.py does
for PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.processes import parent_pid, pid_alive

NETNS_DIR = Path("/run/netns")
STOP_TIMEOUT = 30
# The hosts the partition tests make, by name, with the <n> of their addresses.
HOSTS = {"cpns1": 1, "cpns2": 2}
PROBE = "cpnsprobe"


class NetnsHost:
    """One namespace `name` with its veth and addresses (10.230.<index>.0/30)."""

    def __init__(self, name: str, index: int) -> None:
        assert 1 <= index <= 254 and len(name) <= 12, (name, index)
        self.name = name
        self.index = index
        self.path = NETNS_DIR / name
        self.host_link = f"{name}-h"
        self.link = f"{name}-n"
        self.host_address = f"10.230.{index}.1"
        self.address = f"10.230.{index}.2"
        self.guard = f"10.230.{index}.0/24"

    def create(self) -> None:
        """Make the namespace, its veth and addresses, after clearing what a killed run left."""
        self.delete()
        for command in (
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", self.host_link, "type", "veth", "peer", "name", self.link,
             "netns", self.name],
            ["sysctl", "-q", "-w", f"net.ipv6.conf.{self.host_link}.disable_ipv6=1"],
            ["ip", "addr", "add", f"{self.host_address}/30", "dev", self.host_link],
            ["ip", "route", "replace", "unreachable", self.guard],
            ["ip", "link", "set", self.host_link, "up"],
            ["ip", "-n", self.name, "link", "set", "lo", "up"],
            ["ip", "-n", self.name, "addr", "add", f"{self.address}/30", "dev", self.link],
            ["ip", "-n", self.name, "link", "set", self.link, "up"],
        ):  # fmt: skip
            _ip(command)
        self.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.disable_ipv6=1")

    def delete(self) -> None:
        """End what runs in the namespace, delete it, its veth and its route; safe to repeat."""
        if self.path.exists():
            self._end_processes()
        subprocess.run(["ip", "link", "delete", self.host_link], capture_output=True)
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)
        subprocess.run(["ip", "route", "delete", "unreachable", self.guard], capture_output=True)

    def command(self, *args: str) -> list[str]:
        """`args` as a command line that runs inside the namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def enter(self) -> list[str]:
        """The prefix that runs a command in the namespace's network only (for a dockerd)."""
        return ["nsenter", f"--net={self.path}", "--"]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), check=check, capture_output=True, text=True)

    def routes(self) -> list[str]:
        """The namespace's IPv4 routes (main table), one line each."""
        return self.run("ip", "-4", "route", "show").stdout.splitlines()

    def broker_url(self, url: str) -> str:
        """The broker at `url` (on this machine) as seen from inside the host: the same port,
        credentials and database, at this machine's end of the veth."""
        parts = urlsplit(url)
        credentials, _, _ = parts.netloc.rpartition("@")
        where = f"{self.host_address}:{parts.port}" if parts.port else self.host_address
        netloc = f"{credentials}@{where}" if credentials else where
        return urlunsplit(parts._replace(netloc=netloc))

    def cut(self) -> None:
        """Take this machine's end of the link down: nothing crosses it either way."""
        _ip(["ip", "link", "set", self.host_link, "down"])

    def heal(self) -> None:
        """Bring the link back up, with its address and route as before."""
        _ip(["ip", "link", "set", self.host_link, "up"])

    def link_up(self) -> bool:
        shown = _ip(["ip", "-br", "link", "show", self.host_link]).stdout.split()
        return len(shown) > 1 and shown[1] == "UP"

    def _end_processes(self) -> None:
        """End the processes left in the namespace (a killed run's dockerd and agent): SIGTERM
        to those whose parent is not in it (a dockerd's containerd and proxies are its own to
        stop, after its containers), then SIGKILL to any left after STOP_TIMEOUT seconds."""
        pids = set(self._pids())
        for pid in pids:
            if parent_pid(pid) not in pids:
                _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self._pids():
            _signal(pid, signal.SIGKILL)

    def _pids(self) -> list[int]:
        listed = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True
        ).stdout.split()
        return [int(pid) for pid in listed if pid.isdigit() and pid_alive(int(pid))]


def hosts(names: Sequence[str] = tuple(HOSTS)) -> list[NetnsHost]:
    return [NetnsHost(name, HOSTS[name]) for name in names]


def unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    for tool in ("ip", "nsenter", "sysctl"):
        if shutil.which(tool) is None:
            return f"no `{tool}` command"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    subprocess.run(["ip", "netns", "delete", PROBE], capture_output=True)
    made = subprocess.run(["ip", "netns", "add", PROBE], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` fails: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", PROBE], capture_output=True)
    return None


def require() -> None:
    """Skip the test when network namespaces cannot be made here; fail it under CI."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"no network namespaces under CI: {reason}")
    pytest.skip(f"no network namespaces: {reason}")


def _ip(command: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
