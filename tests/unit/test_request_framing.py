"""When a request is whole, fed as a poller reads it (controlplane.httpserver.framing), and what
the poller answers one it refuses."""

from __future__ import annotations

import json

import pytest

from controlplane.httpserver.framing import (
    MAX_HEAD_BYTES,
    FramingLimits,
    Progress,
    RequestReader,
    RequestRefused,
    head_cap,
    timed_out,
)

LIMITS = FramingLimits(head_bytes=1024, body_bytes=100)
GET = b"GET /api/v1/node/ HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey a:b\r\n\r\n"


def reader() -> RequestReader:
    return RequestReader(LIMITS)


def refusal(*chunks: bytes) -> RequestRefused:
    fed = reader()
    with pytest.raises(RequestRefused) as refused:
        for chunk in chunks:
            fed.feed(chunk)
    return refused.value


def test_a_request_without_a_body_is_whole_at_the_end_of_its_head() -> None:
    fed = reader()
    assert fed.feed(GET) is Progress.COMPLETE
    assert fed.data == GET


def test_a_head_dripped_a_byte_at_a_time_is_whole_only_at_its_last_byte() -> None:
    fed = reader()
    progress = [fed.feed(GET[i : i + 1]) for i in range(len(GET))]
    assert progress == [Progress.PARTIAL] * (len(GET) - 1) + [Progress.COMPLETE]


def test_half_a_request_line_is_partial() -> None:
    assert reader().feed(b"GET /api/v1/no") is Progress.PARTIAL


def test_a_body_is_waited_for_up_to_its_content_length() -> None:
    fed = reader()
    head = b"POST /api/v1/container/ HTTP/1.1\r\nContent-Length: 12\r\n\r\n"
    assert fed.feed(head + b"0123456789") is Progress.HEAD
    assert fed.body_length == 12
    assert fed.feed(b"a") is Progress.PARTIAL
    assert fed.feed(b"b") is Progress.COMPLETE
    assert fed.data == head + b"0123456789ab"


def test_bytes_after_the_request_stay_with_it_for_the_parser() -> None:
    fed = reader()
    assert fed.feed(GET + b"GET /next") is Progress.COMPLETE
    assert fed.data == GET + b"GET /next"


def test_one_empty_line_before_the_request_line_is_allowed() -> None:
    assert reader().feed(b"\r\n" + GET) is Progress.COMPLETE


def test_header_names_and_values_are_read_as_http_reads_them() -> None:
    fed = reader()
    head = b"PUT /x HTTP/1.1\r\ncOnTeNt-LeNgTh: \t 3 \r\n\r\n"
    assert fed.feed(head) is Progress.HEAD
    assert fed.body_length == 3


def test_a_client_that_expects_100_continue_is_told_so_once_its_head_is_whole() -> None:
    head = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n"
    fed = reader()
    assert fed.feed(head) is Progress.HEAD
    assert fed.expects_continue
    http10 = reader()
    http10.feed(head.replace(b"HTTP/1.1", b"HTTP/1.0"))
    assert not http10.expects_continue


def test_a_head_over_the_cap_is_refused_with_431_even_before_it_ends() -> None:
    refused = refusal(b"GET /" + b"a" * 1100)
    assert refused.error.code == 431
    assert refusal(b"GET / HTTP/1.1\r\nX: " + b"a" * 1100 + b"\r\n\r\n").error.code == 431


@pytest.mark.parametrize(
    "encoding", [b"chunked", b"gzip, chunked", b"gzip"], ids=["chunked", "stacked", "gzip"]
)
def test_a_body_without_a_length_is_refused_with_411(encoding: bytes) -> None:
    refused = refusal(b"POST /x HTTP/1.1\r\nTransfer-Encoding: " + encoding + b"\r\n\r\n")
    assert refused.error.code == 411


@pytest.mark.parametrize(
    "fields",
    [b"Content-Length: 5\r\nContent-Length: 5", b"Content-Length: -1", b"Content-Length: 0x10"],
    ids=["twice", "negative", "hex"],
)
def test_a_content_length_that_is_not_one_number_is_refused_with_400(fields: bytes) -> None:
    assert refusal(b"POST /x HTTP/1.1\r\n" + fields + b"\r\n\r\n").error.code == 400


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read() -> None:
    assert refusal(b"POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n").error.code == 413


def test_a_bare_lf_in_the_head_is_refused_with_400_without_waiting_for_more() -> None:
    assert refusal(b"GET / HTTP/1.1\nHost: x").error.code == 400
    assert refusal(b"GET / HTTP/1.1\r\n", b"Host: x\n").error.code == 400


def test_a_refusal_is_answered_as_the_api_answers_errors_and_closes() -> None:
    answer = timed_out(2).response()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 408 Request Timeout"
    assert {"Content-Type: application/json", "Connection: close"} <= set(lines[1:])
    assert f"Content-Length: {len(body)}" in lines
    assert json.loads(body) == {
        "error": "the request was not complete within 2 s",
        "code": "request timeout",
    }


def test_the_head_cap_follows_gunicorns_limits_up_to_the_pollers_own() -> None:
    # gunicorn's defaults allow more than any client of the API sends: the poller's cap holds.
    assert head_cap(4094, 100, 8190) == MAX_HEAD_BYTES
    assert head_cap(100, 2, 50) == 100 + 2 + 2 * 52 + 4
    # 0 (or below) means gunicorn's own ceiling for that limit, never "nothing allowed".
    assert head_cap(0, 0, 0) == MAX_HEAD_BYTES
