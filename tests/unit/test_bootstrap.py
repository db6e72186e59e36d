"""How scripts/bootstrap.sh finds and starts the main Docker daemon, against a fake one: a script
named `dockerd` that writes its pid file, answers `/_ping` on its socket and stops on SIGINT as
dockerd does (even where its shell had SIGINT ignored). The real daemon is never touched: the
script's socket, pid files and log directory point into the test's own directory.

Two faults these catch: the quick start ran dockerd in its caller's process group, so the
Ctrl-C that stopped scripts/run.sh stopped the Docker daemon too; and any `dockerd` on the
machine passed for the main one, so with a second daemon running (the suite's extra nodes) the
run command never started the main daemon and gave up after a minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BOOTSTRAP = Path(__file__).resolve().parents[2] / "scripts" / "bootstrap.sh"

FAKE_DOCKERD = """#!{python}
import http.server, os, signal, socketserver, sys

args = sys.argv[1:]
with open(args[args.index("--pidfile") + 1], "w") as pidfile:
    pidfile.write(str(os.getpid()))
signal.signal(signal.SIGINT, lambda *_: os._exit(0))
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


class Ping(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *_):
        pass


socket_path = args[args.index("-H") + 1].removeprefix("unix://")
socketserver.UnixStreamServer(socket_path, Ping).serve_forever()
"""


@dataclass
class FakeDocker:
    env: dict[str, str]
    pidfile: Path
    root: Path

    def bash(self, script: str) -> subprocess.CompletedProcess[str]:
        """Run `script` with bootstrap.sh's functions, against the fake."""
        return subprocess.run(
            ["bash", "-c", f"source {BOOTSTRAP}; {script}"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    def foreign(self, name: str) -> subprocess.Popen[bytes]:
        """Another dockerd: its own socket and pid file, as the suite's extra nodes have."""
        return subprocess.Popen(
            [self.env["PATH"].split(":")[0] + "/dockerd", "-H", f"unix://{self.root / name}.sock",
             "--pidfile", str(self.root / f"{name}.pid")],
            start_new_session=True,
        )  # fmt: skip


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeDocker]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dockerd = bin_dir / "dockerd"
    dockerd.write_text(FAKE_DOCKERD.format(python=sys.executable))
    dockerd.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CP_DOCKER_SOCK": str(tmp_path / "docker.sock"),
        "CP_DOCKER_PIDFILE": str(tmp_path / "docker.pid"),
        "CP_CONTAINERD_PIDFILE": str(tmp_path / "containerd.pid"),
        "CP_LOG_DIR": str(tmp_path / "log"),
    }
    yield FakeDocker(env, tmp_path / "docker.pid", tmp_path)
    for pidfile in tmp_path.glob("*.pid"):  # the fakes the test left running, and only them
        pid = int(pidfile.read_text())
        if alive(pid) and Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd":
            os.kill(pid, signal.SIGTERM)


def test_a_daemon_it_starts_outlives_a_ctrl_c_of_its_caller(fake: FakeDocker) -> None:
    caller = subprocess.Popen(
        ["bash", "-c", f"source {BOOTSTRAP}; ensure_dockerd && sleep 60"],
        env=fake.env,
        start_new_session=True,  # the caller's own process group, which a Ctrl-C signals
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    check = fake.bash("for i in $(seq 100); do docker_ready && exit 0; sleep 0.1; done; exit 1")
    assert check.returncode == 0, check
    pid = int(fake.pidfile.read_text())

    os.killpg(caller.pid, signal.SIGINT)
    caller.wait(timeout=10)
    assert os.getsid(pid) == pid  # a session of its own, not the caller's (caller.pid's)
    assert fake.bash("sleep 0.5; dockerd_alive && docker_ready").returncode == 0


def test_another_dockerd_is_not_taken_for_the_main_one(fake: FakeDocker) -> None:
    other = fake.foreign("node-2")
    try:
        ready = fake.bash(
            f"for i in $(seq 100); do [[ -S {fake.root}/node-2.sock ]] && exit 0; sleep 0.1; done"
        )
        assert ready.returncode == 0, ready
        assert fake.bash("dockerd_alive").returncode == 1  # no pid file of the main daemon

        started = fake.bash("ensure_dockerd")
        assert started.returncode == 0, started
        assert "starting dockerd" in started.stderr
        main = int(fake.pidfile.read_text())
        assert main != other.pid and alive(main)
        assert fake.bash("dockerd_alive").returncode == 0
    finally:
        other.terminate()
        other.wait(timeout=10)


def test_a_pid_file_naming_a_dead_or_other_process_is_stale(fake: FakeDocker) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        fake.pidfile.write_text(str(sleeper.pid))  # a pid reused by a process of another kind
        assert fake.bash("dockerd_alive").returncode == 1
        started = fake.bash("ensure_dockerd")
        assert started.returncode == 0, started
        assert f"removing stale {fake.pidfile}" in started.stderr
        assert int(fake.pidfile.read_text()) != sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()
    gone = int(fake.pidfile.read_text())
    os.kill(gone, signal.SIGTERM)
    assert fake.bash(f"while pid_alive {gone}; do sleep 0.05; done; dockerd_alive").returncode == 1
