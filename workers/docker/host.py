"""What the node offers, as the heartbeat reports it: Docker's version, CPUs, memory and the
size of the disk holding Docker's data.

It reads the answer of the Engine's `info` and the local file system only; stdlib-only (and
the docker-free `workers.engine`, where `NodeFacts` lives), it must not import docker-py (the
driver asks the Engine) or the agent's other modules.
"""

from __future__ import annotations

import shutil
from typing import Any

from workers.engine import NodeFacts


def node_facts(info: dict[str, Any]) -> NodeFacts:
    """The node's facts from the Engine's `info` answer and the disk under its data root."""
    return NodeFacts(
        docker_version=str(info.get("ServerVersion", "")),
        cpu=int(info.get("NCPU", 0)),
        memory_mb=int(info.get("MemTotal", 0)) // (1024 * 1024),
        disk_gb=disk_gb(str(info.get("DockerRootDir", ""))),
    )


def disk_gb(path: str) -> int:
    """Size of the file system holding Docker's data root; 0 when this process cannot see it
    (an agent running in a container without the host's data root mounted)."""
    try:
        return shutil.disk_usage(path).total // 1_000_000_000
    except OSError:
        return 0
