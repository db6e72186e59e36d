"""Where the live suites find things: the repository, the virtualenv's commands, the test image,
the session's Redis database and the Docker Engine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE = "controlplane/busybox:latest"
REDIS_URL = os.environ.get("CONTROLPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DOCKER_URL = "unix:///var/run/docker.sock"
