"""Scenario 5: resource use, the resident memory of the plane's processes at idle and under load.

A background thread reads, every INTERVAL_S seconds, `VmRSS` from `/proc/<pid>/status` of each
process of the plane and of every process below it: the API (`controlplane api`: the gunicorn
master and its workers), the reporter and the node agent. It measures twice:

- idle: for IDLE seconds with nothing asked of the plane (after the warm-up and any scenario run
  before); the figure is the median of the samples;
- peak: while the throughput scenario (`throughput.py`, scenario 2) runs; the figure is the
  largest sample.

Per role it gives the sum over the role's processes (the peak of the sum, not the sum of the
peaks) and, per process, its own figure. VmRSS counts pages shared between processes (a forked
gunicorn worker shares its master's) in each of them, so a role's sum overstates what it takes
from the machine.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import Plane

INTERVAL_S = 0.1
PROC = Path("/proc")


def rss_kb(pid: int) -> int | None:
    """A process's resident set in KiB, or None once it is gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None  # gone, or a zombie (no VmRSS line)


def parents() -> dict[int, int]:
    """Every process's parent, from `/proc/<pid>/stat` (the field after the parenthesised name,
    which may itself hold spaces and parentheses)."""
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        found[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    return found


def tree(root: int, parent_of: dict[int, int]) -> list[int]:
    """`root` and every process below it, root first."""
    members = [root]
    for pid in members:
        members.extend(sorted(child for child, parent in parent_of.items() if parent == pid))
    return members


class Sampler:
    """Samples the RSS of each role's process tree in a daemon thread until `stop`."""

    def __init__(self, roots: dict[str, int], interval: float = INTERVAL_S) -> None:
        self.roots = roots
        self.interval = interval
        # One dict per sample: role -> {pid: KiB}.
        self.samples: list[dict[str, dict[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> dict[str, dict[int, int]]:
        parent_of = parents()
        taken: dict[str, dict[int, int]] = {}
        for role, root in self.roots.items():
            taken[role] = {}
            for pid in tree(root, parent_of):
                kb = rss_kb(pid)
                if kb is not None:
                    taken[role][pid] = kb
        return taken

    def _run(self) -> None:
        while True:
            self.samples.append(self.sample())
            if self._stop.wait(self.interval):
                break


def _processes(role: str, root: int, pids: list[int]) -> dict[int, str]:
    """A name per process: the API's root is gunicorn's master, its children its workers."""
    if role != "api":
        return {pid: role if pid == root else f"{role} child {pid}" for pid in pids}
    return {pid: "api master" if pid == root else f"api worker {pid}" for pid in pids}


def figures(
    samples: list[dict[str, dict[int, int]]], roots: dict[str, int], pick: Callable[..., float]
) -> dict[str, Any]:
    """Per role: `pick` (median or max) over the samples of the role's sum, and of each
    process's own figure, in MiB."""
    result: dict[str, Any] = {}
    for role, root in roots.items():
        totals = [sum(sample[role].values()) for sample in samples]
        seen = {pid for sample in samples for pid in sample[role]}
        pids = sorted(seen, key=lambda pid: (pid != root, pid))
        names = _processes(role, root, pids)
        result[role] = {
            "total_mib": pick(totals) / 1024,
            "processes_mib": {
                names[pid]: pick([s[role][pid] for s in samples if pid in s[role]]) / 1024
                for pid in pids
            },
        }
    return result


def measure(plane: Plane, *, idle: float, during: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """RSS figures at idle (median over IDLE seconds) and at the peak while `during()` runs
    (scenario 2), and what `during()` returned."""
    roots = {role: process.pid for role, process in plane.processes.items()}
    with Sampler(roots) as quiet:
        time.sleep(idle)
    with Sampler(roots) as loaded:
        outcome = during()
    return {
        "idle": figures(quiet.samples, roots, statistics.median),
        "peak": figures(loaded.samples, roots, max),
        "idle_s": idle,
        "samples": {"idle": len(quiet.samples), "peak": len(loaded.samples)},
    }, outcome


def table(results: dict[str, Any]) -> str:
    lines = [
        "resident memory (VmRSS, MiB): idle = median over "
        f"{results['idle_s']:.0f} s, peak = max during the throughput scenario",
        f"{'process':<24} {'idle':>8} {'peak':>8}",
    ]
    idle, peak = results["idle"], results["peak"]
    for role in peak:
        total = f"{role} (total)"
        lines.append(f"{total:<24} {idle[role]['total_mib']:>8.1f} {peak[role]['total_mib']:>8.1f}")
        processes = peak[role]["processes_mib"]
        if len(processes) > 1:
            for name, mib in processes.items():
                before = idle[role]["processes_mib"].get(name)
                shown = "-" if before is None else f"{before:.1f}"
                lines.append(f"  {name:<22} {shown:>8} {mib:>8.1f}")
    return "\n".join(lines)
