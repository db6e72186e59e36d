"""What sealing costs (controlplane.core.signing): sealing and checking a container report, and
checking a relist picture of many containers, in this process (no broker, no Docker).

    .venv/bin/python benchmarks/seal_cost.py [CONTAINERS]      (default 200)

Prints the median of several timed batches; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from controlplane.core import signing
from controlplane.core.messages import TASK_REPORT_CONTAINER, TASK_REPORT_PICTURE, ContainerReport

KEY = b"k" * 32
NODE = str(uuid.uuid4())


def per_call(work: Callable[[], Any], calls: int, batches: int = 7) -> float:
    """The median, over `batches`, of one call's time in seconds."""
    times = []
    for _ in range(batches):
        began = time.perf_counter()
        for _ in range(calls):
            work()
        times.append((time.perf_counter() - began) / calls)
    return statistics.median(times)


def report() -> dict[str, Any]:
    return ContainerReport(
        container_uuid=str(uuid.uuid4()), state="Running", observed_ns=time.time_ns(),
        node_uuid=NODE, docker_id="d" * 64,
        ports=[{"protocol": "tcp", "inner_port": 80, "outer_port": 32768, "host_ip": "127.0.0.1"}],
    ).to_dict()  # fmt: skip


def main(containers: int) -> None:
    single = {"report": report()}
    subject = f"{signing.FROM_NODE}:{TASK_REPORT_CONTAINER}"
    sealed = signing.sealed(KEY, NODE, subject, single)
    picture = {"picture": {"node_uuid": NODE, "containers": [report() for _ in range(containers)]}}
    picture_subject = f"{signing.FROM_NODE}:{TASK_REPORT_PICTURE}"
    sealed_picture = signing.sealed(KEY, NODE, picture_subject, picture)
    keys = {NODE: KEY}.get
    seal_s = per_call(lambda: signing.sealed(KEY, NODE, subject, single), 2000)
    open_s = per_call(lambda: signing.unseal(sealed, subject, keys), 2000)
    picture_s = per_call(lambda: signing.unseal(sealed_picture, picture_subject, keys), 50)
    print(f"seal a container report   {seal_s * 1e6:8.1f} us")
    print(f"check a container report  {open_s * 1e6:8.1f} us")
    print(f"check a {containers}-container relist {picture_s * 1e3:6.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
