"""The live API's probes: alive, and ready against its real database and Redis, without
credentials."""

from __future__ import annotations

import pytest
import requests

from tests.support.plane import Plane

pytestmark = pytest.mark.integration


def test_the_live_api_is_alive_and_ready(plane: Plane) -> None:
    alive = requests.get(f"{plane.base_url}/livez", timeout=10)
    ready = requests.get(f"{plane.base_url}/readyz", timeout=10)
    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "broker": "ok"}},
    )
