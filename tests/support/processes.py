"""The control plane's processes run the way an operator runs them, and the ports they listen on."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support.locations import BIN, ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A controlplane process run the way an operator runs it, with its log kept for failures.
    `wrapper` comes before the command line, e.g. to run it inside a network namespace
    (`tests.support.netns`); it must exec the command in its place, so the pid is the
    process's own."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        log_dir: Path,
        *,
        wrapper: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.wrapper = list(wrapper)
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*self.wrapper, str(BIN / "controlplane"), *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def restart(self) -> None:
        """Start the process again after `stop(keep_log=True)`, appending to the same log."""
        assert not self.alive()
        self.process = self._spawn()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig_timeout: float = 15, *, keep_log: bool = False) -> None:
        terminate(self.process, sig_timeout)
        if not keep_log:
            self._log.close()

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def pid_alive(pid: int) -> bool:
    """Whether the process runs: a zombie (dead, not yet reaped by PID 1) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def parent_pid(pid: int) -> int | None:
    """The pid of the process's parent, None once it has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a process this suite started, by its own pid: SIGTERM, then SIGKILL if it has not
    exited within `timeout` seconds. One that exited already is left as it is."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
