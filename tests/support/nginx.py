"""The shipped nginx front (docs/nginx/controlplane.conf) run in front of an API, as
scripts/nginx-front.sh runs it: the file as it ships but for its upstream and listen lines."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import requests

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

        def answers() -> bool:
            assert process.poll() is None, (directory / "front.log").read_text()
            try:
                requests.get(base_url + "/api/v1/node/", timeout=5)
            except requests.ConnectionError:
                return False
            return True

        wait_for(answers, timeout=30, interval=0.1)
        yield base_url
    finally:
        terminate(process, 15)
