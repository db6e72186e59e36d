"""The Flask application factory: database, dispatcher and routes, built from explicit Settings.

Nothing happens at import time; `create_app(settings)` is called by the production server
(`controlplane api`) and by tests, which pass their own settings.
"""

from __future__ import annotations

import redis
from flask import Flask
from werkzeug.exceptions import HTTPException

from controlplane.api import metrics, params, register_api, requestid
from controlplane.api.base import EXTENSION, Services, close_db_session
from controlplane.api.errors import error_response
from controlplane.api.eventhub import EventHub
from controlplane.api.logchannels import LogChannels
from controlplane.api.websocket import StreamSlots
from controlplane.celery_app import make_celery
from controlplane.core import signing
from controlplane.db.engine import Database
from controlplane.dispatch import Dispatcher
from controlplane.events import EventPublisher
from controlplane.keyring import Keyring
from controlplane.operations import Operations
from controlplane.ratelimit import CreateRate
from controlplane.servicecontrol import ServiceControl
from controlplane.settings import Settings
from controlplane.stackcontrol import StackControl

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None, **flask_config: object) -> Flask:
    settings = settings or Settings.from_env()
    # No static folder: Flask's /static/<path> route would answer OPTIONS with an empty HTML
    # page, and the API serves no files.
    app = Flask("controlplane", static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        PROPAGATE_EXCEPTIONS=False,
        # No automatic OPTIONS answer (an empty text/html page): OPTIONS is a JSON 405 with
        # the Allow header like any other method a path does not serve (docs/api.md §1.4).
        PROVIDE_AUTOMATIC_OPTIONS=False,
        RESTFUL_JSON={"separators": (",", ":")},
        **flask_config,
    )
    celery = make_celery(settings)
    database = Database(settings.database_url)
    secret_key = settings.require_secret_key()
    keyring = Keyring(database, secret_key)
    dispatcher = Dispatcher(celery, keyring, node_timeout=settings.node_timeout)
    events_key = signing.events_key(secret_key)
    publisher = EventPublisher(celery, events_key)
    operations = Operations(
        database,
        dispatcher,
        publisher,
        settings,
        CreateRate(
            redis.Redis.from_url(settings.broker_url, socket_connect_timeout=1, socket_timeout=1),
            settings.creates_per_minute,
        ),
    )
    service_control = ServiceControl(database, operations)
    app.extensions[EXTENSION] = Services(
        settings=settings,
        database=database,
        dispatcher=dispatcher,
        publisher=publisher,
        operations=operations,
        service_control=service_control,
        stack_control=StackControl(service_control),
        event_hub=EventHub(settings.broker_url, events_key),
        log_channels=LogChannels(settings.broker_url, keyring),
        # Set by `controlplane api` from its thread count; unset (no cap) elsewhere. The cap per
        # user holds everywhere.
        stream_slots=StreamSlots(
            app.config.get("STREAM_SLOTS"), per_user=settings.max_streams_per_user
        ),
    )
    app.teardown_appcontext(close_db_session)
    app.before_request(params.refuse_unservable_path)
    app.before_request(params.refuse_unstorable_query)
    requestid.register(app)
    # Paths outside flask-restful (unknown URLs, 405 on them) reach Flask's own handlers.
    app.register_error_handler(HTTPException, error_response)
    app.register_error_handler(Exception, error_response)
    app.url_map.strict_slashes = False
    # Werkzeug would answer a path with `//` by a 308 to the merged path, built from the
    # client's Host header; the API never redirects (docs/api.md §1.4), so such a path is a 404.
    app.url_map.merge_slashes = False
    register_api(app)
    metrics.register(app)
    return app
