"""The node's facts from the Engine's `info` answer and the local disk (no Docker)."""

from __future__ import annotations

import shutil
from pathlib import Path

from workers.docker.host import disk_gb, node_facts
from workers.engine import NodeFacts


def test_the_facts_are_read_from_dockers_info(tmp_path: Path) -> None:
    info = {
        "ServerVersion": "20.10.24",
        "NCPU": 2,
        "MemTotal": 4 * 1024 * 1024 * 1024 + 12345,
        "DockerRootDir": str(tmp_path),
    }
    assert node_facts(info) == NodeFacts(
        docker_version="20.10.24",
        cpu=2,
        memory_mb=4096,
        disk_gb=shutil.disk_usage(tmp_path).total // 1_000_000_000,
    )


def test_an_info_without_the_facts_gives_zeros() -> None:
    assert node_facts({}) == NodeFacts(docker_version="", cpu=0, memory_mb=0, disk_gb=0)


def test_a_data_root_this_process_cannot_see_has_no_disk(tmp_path: Path) -> None:
    assert disk_gb(str(tmp_path / "not-mounted-here")) == 0
