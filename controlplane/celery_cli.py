"""The control plane's Celery app for the `celery` command: `celery -A controlplane.celery_cli
inspect ping` (or `status`, `inspect active`, Flower's `celery -A controlplane.celery_cli
flower`), run where the CONTROLPLANE_* settings are set, as for the reporter.

Unlike every other module this one reads the settings when it is imported: that is what `-A`
asks of it. Only reporters run with CONTROLPLANE_CELERY_REMOTE_CONTROL=1 answer (agents never
do: remote control comes unsealed, docs/operations.md §11), and Flower shows tasks only of
reporters with CONTROLPLANE_CELERY_TASK_EVENTS=1.
"""

from __future__ import annotations

from controlplane.celery_app import make_celery
from controlplane.settings import Settings

app = make_celery(Settings.from_env())
