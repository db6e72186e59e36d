"""The real, unmodified Tutum and Docker Cloud command-line clients, on Python 2.7.

`tutum` 0.21.1 (2015) and `docker-cloud` 1.0.9 (2017) are Python 2 programs: they are installed
from PyPI into a directory of their own each (`pip --target`), with every distribution they run
with pinned exactly and installed `--no-deps`, so what runs is the same set on every machine.
The pins are the CLIs' own where they pinned: tutum 0.21.1 requires exact versions itself;
docker-cloud 1.0.9 requires ranges, and its repository's requirements.txt pinned these
versions, all within them, with python-dockercloud 1.0.12, the SDK the conformance suite
drives (and the newest the range takes).

An install is made once per machine, outside the repository, in `CACHE_ROOT/<name>-<version>`
(`CONTROLPLANE_TEST_LEGACY_CLI_DIR` moves it). It is built in a staging directory and renamed
into place complete, with a stamp naming its pins written last, under a lock file, so two
sessions that race install it once and neither ever runs a half-made one. A stamp that names
other pins (they were changed here) is installed again.

A Python 2.7 is looked for under pyenv (`PYENV_ROOT`, then the user's own `~/.pyenv`, found
through the password database, since the test command points `HOME` at an empty directory) and
on the `PATH`. Without one the tests skip, except under CI, whose machine has one: there it
must fail rather than pass unseen (as `tests.support.postgres` does for PostgreSQL).

Each run gets an empty `HOME` of its own (no `~/.tutum` or `~/.docker/config.json` is read), no
bytecode written into the shared install, and the credentials and hosts in the variables each
CLI reads at import (`tutum/__init__.py`, `dockercloud/__init__.py`).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CACHE_ROOT = Path(
    os.environ.get("CONTROLPLANE_TEST_LEGACY_CLI_DIR", "/var/lib/controlplane-test/legacy-cli")
)
STAMP = "installed.json"
# A cold install of one CLI takes about 15 s (downloads, and setup.py builds of 2015 sdists).
INSTALL_TIMEOUT = 600
# PyYAML's optional C extension took 12 s of a 25 s install to build, for nothing the CLIs need
# (they only read stackfiles): it is built without it, as pure Python, which behaves the same.
_BUILD_OPTIONS = {"PyYAML": ("--global-option=--without-libyaml",)}


@dataclass(frozen=True)
class LegacyCli:
    """A CLI release from PyPI and every distribution it runs with, pinned."""

    name: str  # its PyPI name, and the command it installs
    version: str
    pins: tuple[str, ...]  # the CLI's dependencies, each `name==version`

    @property
    def requirements(self) -> tuple[str, ...]:
        return (f"{self.name}=={self.version}", *self.pins)


TUTUM = LegacyCli(
    "tutum",
    "0.21.1",
    (  # exactly what tutum 0.21.1 requires, and what those require
        "python-tutum==0.21.1",
        "docker-py==1.2.3",
        "PyYAML==3.10",
        "ago==0.0.6",
        "backports.ssl-match-hostname==3.4.0.2",
        "future==0.15.0",
        "python-dateutil==2.4.2",
        "requests==2.7.0",
        "six==1.9.0",
        "tabulate==0.7.2",
        "websocket-client==0.32.0",
    ),
)
DOCKER_CLOUD = LegacyCli(
    "docker-cloud",
    "1.0.9",
    (  # within docker-cloud 1.0.9's ranges: its requirements.txt, and python-dockercloud 1.0.12
        "python-dockercloud==1.0.12",
        "PyYAML==3.10",
        "ago==0.0.6",
        "future==0.15.0",
        "python-dateutil==2.4.2",
        "requests==2.7.0",
        "six==1.9.0",
        "tabulate==0.7.2",
        "websocket-client==0.37.0",
    ),
)


class LegacyCliUnavailableError(Exception):
    """No Python 2.7 here, or none that can install packages."""


# --- Python 2.7 ----------------------------------------------------------------------------------


def _pyenv_roots() -> list[Path]:
    roots = [os.environ.get("PYENV_ROOT", "")]
    with contextlib.suppress(KeyError):
        roots.append(os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".pyenv"))
    roots.append(os.path.expanduser("~/.pyenv"))
    return [Path(root) for root in dict.fromkeys(roots) if root]


def python27_candidates() -> list[str]:
    """Interpreters that may be a Python 2.7, the real binaries first: a pyenv shim on the
    PATH finds its versions through HOME, which the test command points elsewhere."""
    found = []
    for root in _pyenv_roots():
        found += sorted(glob.glob(str(root / "versions" / "2.7*" / "bin" / "python2.7")))[::-1]
    on_path = shutil.which("python2.7")
    if on_path:
        found.append(on_path)
    found += ["/usr/bin/python2.7", "/usr/local/bin/python2.7"]
    return list(dict.fromkeys(path for path in found if os.access(path, os.X_OK)))


def _python_says(python: str, code: str) -> str | None:
    """What `python -c code` prints, or None if it does not run or fails."""
    try:
        answer = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=60, env=_python_env()
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return answer.stdout.strip() if answer.returncode == 0 else None


def find_python27() -> str | None:
    """The first candidate that runs and says it is 2.7, or None."""
    version = "import sys; print('%d.%d' % sys.version_info[:2])"
    return next((py for py in python27_candidates() if _python_says(py, version) == "2.7"), None)


def require_python27() -> str:
    """A Python 2.7; skips the test without one, or fails it under CI."""
    python = find_python27()
    if python:
        return python
    looked = ", ".join(python27_candidates()) or "nothing"
    reason = f"no Python 2.7 for the legacy CLIs (pyenv or PATH python2.7; found {looked})"
    if os.environ.get("CI"):
        pytest.fail(reason + ": the CI machine has one (pyenv 2.7.18)")
    pytest.skip(reason)


# Variables of this Python 3 (PYTHONPATH, ...) and of the caller's own CLI set-up stay out.
_NOT_INHERITED = ("PYTHON", "TUTUM_", "DOCKERCLOUD_")


def _python_env(**extra: str) -> dict[str, str]:
    """The environment a Python 2 runs in: this one's, less `_NOT_INHERITED`, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_NOT_INHERITED)}
    env.update(PYTHONNOUSERSITE="1", **extra)
    return env


def pip_command(python: str) -> tuple[list[str], dict[str, str]]:
    """How to run a pip on `python`, and its environment: the interpreter's own pip, or else
    the pip and setuptools that ensurepip bundles, run from their wheels (which changes nothing
    in the interpreter, so two sessions may do it at once)."""
    if _python_says(python, "import pip") is not None:
        return [python, "-m", "pip"], _python_env()
    ensurepip = _python_says(
        python, "import ensurepip, os; print(os.path.dirname(ensurepip.__file__))"
    )
    wheels = os.path.join(ensurepip or "/nonexistent", "_bundled")
    pip = sorted(glob.glob(os.path.join(wheels, "pip-*.whl")))
    setuptools = sorted(glob.glob(os.path.join(wheels, "setuptools-*.whl")))
    if not pip or not setuptools:
        raise LegacyCliUnavailableError(f"{python} has no pip, and no bundled one to run")
    # setup.py of the sdists pip builds imports setuptools, from this path too.
    return [python, os.path.join(pip[-1], "pip")], _python_env(PYTHONPATH=setuptools[-1])


# --- installing ----------------------------------------------------------------------------------


def install_dir(cli: LegacyCli) -> Path:
    return CACHE_ROOT / f"{cli.name}-{cli.version}"


def _stamp(cli: LegacyCli) -> dict[str, object]:
    return {"cli": cli.name, "version": cli.version, "python": "2.7", "pins": list(cli.pins)}


def is_installed(cli: LegacyCli) -> bool:
    try:
        stamp = json.loads((install_dir(cli) / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return bool(stamp == _stamp(cli))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or its process dies
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install(cli: LegacyCli, python: str) -> Path:
    """The CLI's install directory, installing it first unless a complete one is there."""
    target = install_dir(cli)
    if is_installed(cli):
        return target
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with _locked(CACHE_ROOT / f".{target.name}.lock"):
        if is_installed(cli):  # another session installed it while this one waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=CACHE_ROOT))
        try:
            _pip_install(cli, python, staging, target)
            (staging / STAMP).write_text(json.dumps(_stamp(cli)))
            staging.chmod(0o755)  # mkdtemp made it private; the install is for every user
            if target.exists():  # an install of other pins: set aside, then removed
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=CACHE_ROOT))
                target.rename(old / target.name)
                shutil.rmtree(old, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _pip_install(cli: LegacyCli, python: str, staging: Path, target: Path) -> None:
    """pip the requirements into `staging`, then compile them all, as if at `target` (where
    tracebacks will find the sources): runs write no bytecode into the shared install."""
    command, pip_env = pip_command(python)
    pip = [*command, "install", "--disable-pip-version-check", "--no-input"]
    pip += ["--progress-bar", "off", "--no-deps", "--target", str(staging)]
    special = [r for r in cli.requirements if r.split("==")[0] in _BUILD_OPTIONS]
    plain = [r for r in cli.requirements if r not in special]
    steps = [pip + plain]
    steps += [pip + [*_BUILD_OPTIONS[r.split("==")[0]], r] for r in special]
    steps.append([python, "-m", "compileall", "-q", "-d", str(target), str(staging)])
    for step in steps:
        finished = subprocess.run(
            step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=pip_env
        )
        if finished.returncode != 0:
            raise LegacyCliUnavailableError(
                f"could not install {cli.name} {cli.version}: {' '.join(step)}\n"
                f"{(finished.stdout + finished.stderr)[-4000:]}"
            )


# --- running ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"$ {' '.join(self.args)}\nexit code {self.exit_code}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


@dataclass
class InstalledCli:
    """One installed CLI, set up to drive one user's view of a control plane."""

    cli: LegacyCli
    python: str
    directory: Path
    home: Path  # an empty HOME of its own
    env: dict[str, str] = field(default_factory=dict)  # the CLI's own variables

    def run(self, *args: str, timeout: float = 60) -> CliResult:
        """Run `<cli> args...` the way its console script does; never raises on a failure."""
        command = [self.python, str(self.directory / "bin" / self.cli.name), *args]
        env = _python_env(
            PYTHONPATH=str(self.directory),
            PYTHONDONTWRITEBYTECODE="1",  # the install is shared; it was compiled when made
            HOME=str(self.home),
            LANG="C.UTF-8",
            **self.env,
        )
        try:
            finished = subprocess.run(
                command,
                env=env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,  # a login prompt reads EOF instead of waiting
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as expired:
            raise AssertionError(
                f"{' '.join([self.cli.name, *args])} did not finish within {timeout} s:\n"
                f"{_text(expired.stdout)}{_text(expired.stderr)}"
            ) from None
        return CliResult(
            (self.cli.name, *args),
            finished.returncode,
            _text(finished.stdout),
            _text(finished.stderr),
        )

    def run_all(self, *commands: Sequence[str], timeout: float = 60) -> list[CliResult]:
        """Run independent commands at once (each is a Python 2 start-up, most of a second),
        their results in the order given."""
        with ThreadPoolExecutor(max(len(commands), 1)) as pool:
            futures = [pool.submit(self.run, *args, timeout=timeout) for args in commands]
            return [future.result() for future in futures]


def _text(data: bytes | str | None) -> str:
    if isinstance(data, str):
        return data
    return (data or b"").decode("utf-8", "replace")


def cli_environment(
    cli: LegacyCli, base_url: str, username: str, key: str, namespace: str | None = None
) -> dict[str, str]:
    """The variables the CLI's SDK reads at import: credentials, and the REST and stream hosts
    (scheme, host and port; each SDK adds its own paths: `/api/v1/` and `/v1/` for Tutum)."""
    stream = "ws" + base_url.removeprefix("http")
    if cli.name == TUTUM.name:
        return {
            "TUTUM_USER": username,
            "TUTUM_APIKEY": key,
            "TUTUM_REST_HOST": base_url,
            "TUTUM_STREAM_HOST": stream,
        }
    env = {
        "DOCKERCLOUD_USER": username,
        "DOCKERCLOUD_APIKEY": key,
        "DOCKERCLOUD_REST_HOST": base_url,
        "DOCKERCLOUD_STREAM_HOST": stream,
    }
    if namespace:
        env["DOCKERCLOUD_NAMESPACE"] = namespace
    return env
