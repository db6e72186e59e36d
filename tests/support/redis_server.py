"""A Redis server of a test's own, on a free loopback port, that the test may kill and restart.

The session's Redis is shared by every live test (and may not be ours to kill), so the fault
suite runs its plane on one of these. It keeps an append-only file synced on every write, as a
production broker should, so a SIGKILL loses nothing that Redis acknowledged.

It listens on 127.0.0.1, where the plane's own processes reach it (`url`), and on any other
`addresses` of this machine given, such as the ends of the veths that agents in network
namespaces reach it through (tests.support.netns); those must exist before `start`. Redis
answers on other addresses than loopback only with a password (its protected mode), as a
production broker that nodes reach has one (docs/operations.md §4): `password` sets it, and
`url` carries it.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import redis

from tests.support.processes import free_port
from tests.support.waiting import wait_for


class RedisServer:
    def __init__(
        self, directory: Path, *, addresses: Sequence[str] = (), password: str | None = None
    ) -> None:
        self.directory = directory
        self.addresses = ["127.0.0.1", *addresses]
        self.password = password
        self.port = free_port()
        credentials = f":{password}@" if password else ""
        self.url = f"redis://{credentials}127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--bind",
                    *self.addresses,
                    "--port",
                    str(self.port),
                    "--dir",
                    str(self.directory),
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    *(["--requirepass", self.password] if self.password else []),
                ],  # fmt: skip
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.answers, timeout=20)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def kill(self) -> None:
        """SIGKILL, as a crash would; what was acknowledged is in the append-only file."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
