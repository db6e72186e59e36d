"""Credentials out of the logs: the redaction of URLs, queries and headers, and gunicorn's
access and error logs as `controlplane api` configures them (RedactingLogger)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from controlplane.core.redaction import (
    RedactingFilter,
    redact_headers,
    redact_query,
    redact_text,
)
from controlplane.serverlog import RedactingLogger

KEY = "s3cr3t-api-key"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/v1/events?user=alice&token=" + KEY, "/v1/events?user=alice&token=***"),
        ("/v1/events?auth=ApiKey%20alice%3A" + KEY, "/v1/events?auth=***"),
        ("/x?auth=Basic+YWxpY2U6czNjcg==&tail=10", "/x?auth=***&tail=10"),
        ("/x?tail=10&follow=true", "/x?tail=10&follow=true"),
        ("/x?api_key=a&password=b&secret=c", "/x?api_key=***&password=***&secret=***"),
        ("/x?%74oken=" + KEY, "/x?%74oken=***"),
        ("/x?token=", "/x?token="),
        ('GET /v1/events?token=abc HTTP/1.1" 401', 'GET /v1/events?token=*** HTTP/1.1" 401'),
        ("redis://:hunter2@127.0.0.1:6380/0", "redis://:***@127.0.0.1:6380/0"),
        ("postgresql://cp:pw@db/cp", "postgresql://cp:***@db/cp"),
        ("no url here: key k", "no url here: key k"),
    ],
)
def test_credentials_in_a_text_are_masked_and_the_rest_is_kept(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_a_bare_query_string_is_redacted() -> None:
    assert redact_query(f"user=alice&token={KEY}") == "user=alice&token=***"
    assert redact_query("") == ""


def test_credential_headers_are_masked_whole() -> None:
    headers = [("Authorization", "ApiKey alice:" + KEY), ("Referer", "/v1/events?token=" + KEY)]
    assert redact_headers(headers) == [
        ("Authorization", "***"),
        ("Referer", "/v1/events?token=***"),
    ]


def test_the_filter_redacts_arguments_too(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("Error handling request %s", "/v1/events?token=" + KEY)
    assert caplog.messages == ["Error handling request /v1/events?token=***"]


def test_the_filter_passes_a_malformed_record_on_untouched() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d token=%s", ("a",), None)
    assert RedactingFilter().filter(record)
    assert (record.msg, record.args) == ("%d token=%s", ("a",))


# --- gunicorn --------------------------------------------------------------------------------


@pytest.fixture
def gunicorn_logger(tmp_path: Path) -> Iterator[Callable[..., RedactingLogger]]:
    """Makes gunicorn loggers writing to tmp_path; their files (on gunicorn's global loggers)
    are closed after the test."""
    made: list[RedactingLogger] = []

    def make(access_format: str | None = None) -> RedactingLogger:
        cfg = Config()
        cfg.set("accesslog", str(tmp_path / "access.log"))
        cfg.set("errorlog", str(tmp_path / "error.log"))
        if access_format is not None:
            cfg.set("access_log_format", access_format)
        made.append(RedactingLogger(cfg))
        return made[-1]

    yield make
    for logger in made:
        for log in (logger.error_log, logger.access_log):
            for handler in list(log.handlers):
                handler.close()
                log.removeHandler(handler)


def log_request(logger: RedactingLogger, uri: str) -> None:
    path, _, query = uri.partition("?")
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": "ApiKey alice:" + KEY,
        "HTTP_REFERER": uri,
    }
    headers = [("Authorization", "ApiKey alice:" + KEY), ("Referer", uri)]
    response = SimpleNamespace(status="503 SERVICE UNAVAILABLE", sent=97, headers=[])
    logger.access(response, SimpleNamespace(headers=headers), environ, timedelta(seconds=0))


def test_the_access_log_line_of_a_refused_handshake_holds_no_key(
    tmp_path: Path, gunicorn_logger: Callable[..., RedactingLogger]
) -> None:
    log_request(gunicorn_logger(), f"/v1/events?user=alice&token={KEY}")
    line = (tmp_path / "access.log").read_text()
    assert '"GET /v1/events?user=alice&token=*** HTTP/1.1" 503 97' in line
    assert KEY not in line


def test_no_access_log_format_shows_a_credential(
    tmp_path: Path, gunicorn_logger: Callable[..., RedactingLogger]
) -> None:
    atoms = "%(q)s %(f)s %({authorization}i)s %({http_authorization}e)s %({raw_uri}e)s"
    log_request(gunicorn_logger(atoms), f"/v1/events?auth=ApiKey%20alice%3A{KEY}")
    line = (tmp_path / "access.log").read_text().strip()
    assert line == "auth=*** /v1/events?auth=*** *** *** /v1/events?auth=***"


def test_the_error_log_redacts_a_uri_passed_as_an_argument(
    tmp_path: Path, gunicorn_logger: Callable[..., RedactingLogger]
) -> None:
    gunicorn_logger().error("Error handling request %s", f"/v1/events?token={KEY}")
    text = (tmp_path / "error.log").read_text()
    assert "Error handling request /v1/events?token=***" in text
    assert KEY not in text
