"""gunicorn's logger, with credentials kept out of the access and error logs.

gunicorn writes each request's line (`%(r)s`: method, raw URI with its query, protocol), and
can be told to write any header or environ value; on an unhandled error it logs the raw URI
too. A stream handshake may carry an API key in its query (docs/api.md §2.1), so every value a
log line can show is redacted first (`controlplane.core.redaction`): credential-like query
parameters and URL passwords become `***`, and the headers that carry credentials
(Authorization, Cookie, ...) are never shown.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gunicorn import glogging

from controlplane.core.logcontext import (
    REQUEST_ID_HEADER,
    JsonFormatter,
    RequestIdFilter,
    json_lines,
    request_context,
)
from controlplane.core.redaction import (
    MASK,
    add_redacting_filter,
    is_secret_name,
    redact_query,
    redact_text,
)

_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower()
# Atoms whose text is a bare query string rather than a URL.
_QUERY_ATOMS = frozenset({"q", "{query_string}e"})


class RedactingLogger(glogging.Logger):
    """`logger_class` of `controlplane api`: gunicorn's own logger, redacting what it writes."""

    def setup(self, cfg: Any) -> None:
        """Also redact every record of the error and access logs (a URI passed as an argument
        of "Error handling request %s") and give each the request id. Filters sit on the
        loggers, not their handlers, which gunicorn replaces when it reopens its files. With
        CONTROLPLANE_LOG_FORMAT=json (the root logger's lines are JSON), gunicorn's are too."""
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            add_redacting_filter(logger)
            logger.addFilter(RequestIdFilter())
            for handler in logger.handlers if json_lines() else ():
                handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: Any, request_time: timedelta) -> None:
        """The access line, under the request id the app answered with: the request's own
        context has ended by the time gunicorn writes it."""
        request_id = next(
            (value for name, value in resp.headers if name.lower() == _REQUEST_ID_NAME), None
        )
        with request_context(request_id):
            super().access(resp, req, environ, request_time)

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: timedelta) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: redact_atom(name, value) for name, value in atoms.items()}


def redact_atom(name: str, value: Any) -> Any:
    """One access-log atom, redacted: a credential header (`{authorization}i`, or its environ
    form `{http_authorization}e`) is masked whole, any other text has its query redacted."""
    if not isinstance(value, str):
        return value
    header = _header_name(name)
    if header is not None and is_secret_name(header):
        return MASK
    return redact_query(value) if name in _QUERY_ATOMS else redact_text(value)


def _header_name(atom: str) -> str | None:
    """The header an atom shows (`{name}i`, `{name}o`, `{http_name}e`), or None."""
    if atom.startswith("{") and (atom.endswith("}i") or atom.endswith("}o")):
        return atom[1:-2]
    if atom.startswith("{http_") and atom.endswith("}e"):
        return atom[len("{http_") : -2].replace("_", "-")
    return None
