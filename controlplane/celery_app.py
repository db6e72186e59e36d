"""The control plane's Celery app, used by the API to send and by the reporter to receive.

Built by `make_celery(settings)`; nothing happens at import time.
"""

from __future__ import annotations

from celery import Celery

from controlplane.core.celeryconf import celery_config
from controlplane.settings import Settings


def make_celery(settings: Settings) -> Celery:
    app = Celery("controlplane", set_as_current=False)
    app.conf.update(
        celery_config(
            settings.broker_url,
            visibility_timeout=settings.visibility_timeout,
            remote_control=settings.celery_remote_control,
            task_events=settings.celery_task_events,
        )
    )
    return app
