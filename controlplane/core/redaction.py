"""Credentials out of log lines: URLs, query strings and headers are redacted before they are
written.

Stream handshakes may carry an API key in the query (`?user=&token=`, `?auth=`; docs/api.md
§2.1), and a refused one is logged by gunicorn like any request, so a log must never hold a URL
or a header as it arrived. Names are matched loosely (anything that looks like a token, a key, a
password, a secret or an authorization): a harmless parameter masked by mistake costs nothing,
a key written to a log file costs a rotation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"

# Parameter names whose values are credentials, matched as substrings of the lowercased name.
_SECRET_NAME_PARTS = ("token", "auth", "key", "pass", "secret", "signature", "credential")
# Headers that carry credentials (gunicorn logs any header a format names).
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)

# `name=value` after a `?`, `&` or `;`, anywhere in a text (a request line, a referer, a URL).
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s\"'?]+)=(?P<value>[^&;#\s\"']*)")
# The password of a URL's userinfo: `scheme://user:password@host`.
_URL_PASSWORD = re.compile(r"(?P<lead>://[^/:@\s\"']*:)[^@/\s\"']+(?=@)")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter (percent-encoded or not) or a header holds a credential."""
    lowered = unquote(name).lower()
    return lowered in SECRET_HEADERS or any(part in lowered for part in _SECRET_NAME_PARTS)


def redact_text(text: str) -> str:
    """`text` with the value of every credential-like query parameter and every URL password
    replaced by MASK; the rest stays byte for byte, so a log line remains readable."""
    text = _URL_PASSWORD.sub(lambda m: m["lead"] + MASK, text)
    return _QUERY_PARAM.sub(_mask_param, text)


def redact_query(query: str) -> str:
    """A bare query string (`QUERY_STRING`, without the `?`), redacted like `redact_text`."""
    return redact_text("?" + query)[1:] if query else query


def _mask_param(match: re.Match[str]) -> str:
    if not is_secret_name(match["name"]) or not match["value"]:
        return match[0]
    return f"{match['lead']}{match['name']}={MASK}"


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header pairs with the credential-carrying ones masked and URLs in the rest redacted."""
    return [
        (name, MASK if name.lower() in SECRET_HEADERS else redact_text(value))
        for name, value in headers
    ]


class RedactingFilter(logging.Filter):
    """A handler or logger filter that redacts the finished message of every record.

    The message is formatted here (`getMessage`) and stored without its arguments, so a
    credential passed as an argument ("Error handling request %s", uri) is caught as well as
    one in the format string. Records are never dropped, and one whose arguments do not fit its
    format is left for the handler to report as logging always does (a filter that raised would
    break the caller instead).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def add_redacting_filter(target: logging.Filterer) -> None:
    """Put a RedactingFilter on a logger or a handler, unless it has one (set-ups may repeat)."""
    if not any(isinstance(existing, RedactingFilter) for existing in target.filters):
        target.addFilter(RedactingFilter())
