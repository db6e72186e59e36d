"""Error -> HTTP response mapping, applied in one place for every route.

flask-restful sends errors raised in its resources to `Api.handle_error`, which turns anything
that is not an HTTPException into a bare 500 whenever PROPAGATE_EXCEPTIONS is off (production),
while tests (where it defaults on) see the app's error handlers instead (flask-restful 0.3.10,
`Api.error_router` and `_get_propagate_exceptions_bool`: a mapping done with `@app.errorhandler`
passes in tests and answers 500 in production). So
the mapping lives in an `Api` subclass, and the same function serves Flask's handlers for paths
outside flask-restful (unknown URLs). Unknown exceptions become a 500 with a correlation id that
is also logged; the client never sees a traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Response, jsonify
from flask_restful import Api
from werkzeug.exceptions import HTTPException

from controlplane.core import errors
from controlplane.core.logcontext import current_request_id

log = logging.getLogger(__name__)

# Resolved through the MRO, so subclasses inherit their parent's status.
STATUS_BY_ERROR: dict[type[errors.ControlPlaneError], int] = {
    errors.InvalidInputError: 400,
    errors.AuthenticationError: 401,
    errors.DangerousOptionForbiddenError: 403,
    errors.QuotaExceededError: 403,
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.UnsupportedMediaTypeError: 415,
    errors.RateLimitedError: 429,
    errors.UserStreamCapacityError: 429,
    errors.NoNodeAvailableError: 503,
    errors.NodeUnreachableError: 503,
    errors.BrokerUnavailableError: 503,
    errors.NotReadyError: 503,
    errors.StreamCapacityError: 503,
    errors.NodeTimeoutError: 504,
}


def status_for(error: errors.ControlPlaneError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_response(error: Exception) -> Response:
    """The JSON response for any exception: {"error": sentence, ...}."""
    if isinstance(error, errors.ControlPlaneError):
        body: dict[str, Any] = {"error": error.message, "code": error.code}
        if error.field is not None:
            body["field"] = error.field
        response = jsonify(body)
        response.status_code = status_for(error)
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="controlplane"'
        if "retry_after" in error.kwargs:
            response.headers["Retry-After"] = str(error.kwargs["retry_after"])
        return response
    if isinstance(error, HTTPException):
        response = jsonify({"error": error.description or error.name, "code": error.name.lower()})
        response.status_code = error.code or 500
        allow = error.get_headers()
        for name, value in allow:
            if name.lower() == "allow":
                response.headers["Allow"] = value
        return response
    correlation_id = current_request_id() or str(uuid.uuid4())
    log.error("unhandled error, correlation id %s", correlation_id, exc_info=error)
    response = jsonify(
        {
            "error": "internal server error; quote the correlation id to the operator",
            "correlation_id": correlation_id,
        }
    )
    response.status_code = 500
    return response


class ControlPlaneApi(Api):
    """flask-restful Api whose errors follow `error_response`, whatever PROPAGATE_EXCEPTIONS is."""

    def handle_error(self, e: Exception) -> Response:
        return error_response(e)

    def error_router(self, original_handler: Any, e: Exception) -> Response:
        """Every error goes to `error_response`, which the app's own handlers use too, so there
        is nothing to route. flask-restful's router decides by matching the URL again, outside
        every handler: a match that raises something else (WebsocketMismatch for a POST on a
        stream path, RequestRedirect) escaped the app as the server's bare HTML 500."""
        return error_response(e)
