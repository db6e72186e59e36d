"""The shipped nginx front (docs/nginx/controlplane.conf) run in front of an API, as
scripts/nginx-front.sh runs it: the file as it ships but for its upstream and listen lines."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.api import answers
from tests.support.locations import ROOT
from tests.support.processes import free_port, terminate
from tests.support.waiting import wait_for


@contextlib.contextmanager
def nginx_front(directory: Path, upstream: str) -> Iterator[str]:
    """nginx proxying to `upstream` (host:port); yields its base URL once it answers, and stops
    it (by its pid) afterwards."""
    port = free_port()
    with (directory / "front.log").open("ab") as log:
        process = subprocess.Popen(
            ["bash", str(ROOT / "scripts/nginx-front.sh"), str(directory), upstream,
             f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:

        def front_answers() -> bool:
            assert process.poll() is None, (directory / "front.log").read_text()
            return answers(base_url)

        wait_for(front_answers, timeout=30, interval=0.1)
        yield base_url
    finally:
        terminate(process, 15)
