"""The fault matrix: every scenario of the fault suite (tests/faults), run several times.

For each scenario: trials, how many converged (the test passed: every invariant of
tests.support.invariants held in the end, and nothing stale or forged took effect), the median
and worst wall time of a trial (fault, recovery and the checks), the median time the final wait
for convergence took, and the violations left in failed trials.

    .venv/bin/python benchmarks/fault_matrix.py [TRIALS]        (default 3)

It runs pytest, which starts its own planes, dockerd and Redis; run it alone (2 cores), never
beside the test suite or another benchmark. Figures only: nothing here asserts a timing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_trials(trials: int, matrix: Path) -> None:
    env = {**os.environ, "CONTROLPLANE_FAULT_MATRIX": str(matrix)}
    for trial in range(1, trials + 1):
        print(f"trial {trial}/{trials} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pytest", "tests/faults", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )


def report(matrix: Path) -> None:
    rows: dict[str, list[dict]] = defaultdict(list)
    for line in matrix.read_text().splitlines():
        row = json.loads(line)
        rows[row["scenario"]].append(row)
    print(f"{'scenario':<92} trials converged  median   max  converge  violations")
    for scenario, runs in sorted(rows.items()):
        times = [r["seconds"] for r in runs]
        waits = [r["converge_seconds"] for r in runs]
        passed = sum(r["outcome"] == "passed" for r in runs)
        left = sum(r["violations"] or 0 for r in runs if r["outcome"] != "passed")
        print(
            f"{scenario:<92} {len(runs):6d} {passed:9d} {statistics.median(times):6.1f}"
            f" {max(times):5.1f} {statistics.median(waits):9.1f} {left:11d}"
        )


def main(trials: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        matrix = Path(tmp) / "matrix.jsonl"
        matrix.touch()
        run_trials(trials, matrix)
        report(matrix)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
