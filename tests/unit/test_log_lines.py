"""The agent's pure log handling: reading Docker's timestamped frames and merging stream tails."""

from __future__ import annotations

from workers.docker.observe import LogLine, parse_log_frame
from workers.logstream import merge_tail


def test_a_timestamped_frame_gives_docker_time_to_the_nanosecond_and_keeps_the_newline() -> None:
    line = parse_log_frame("stderr", b"2026-01-02T03:04:05.123456789Z boom: it broke\n")
    assert line == LogLine("stderr", 1767323045_123456789, "boom: it broke\n")


def test_a_frame_with_a_short_fraction_and_no_text_is_read() -> None:
    line = parse_log_frame("stdout", b"2026-01-02T03:04:05.5Z \n")
    assert (line.observed_ns, line.text) == (1767323045_500000000, "\n")


def test_a_frame_without_a_readable_time_keeps_all_its_text() -> None:
    line = parse_log_frame("stdout", b"not-a-time hello\n")
    assert line.text == "not-a-time hello\n"
    assert line.observed_ns > 0


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert parse_log_frame("stdout", b"2026-01-02T03:04:05Z \xff\n").text == "\ufffd\n"


def lines(stream: str, *times: int) -> list[LogLine]:
    return [LogLine(stream, t, f"{stream}{t}\n") for t in times]


def test_tails_of_both_streams_merge_in_time_order_and_keep_the_last_lines() -> None:
    merged = merge_tail([lines("stdout", 1, 4, 5), lines("stderr", 2, 3, 6)], 3)
    assert [(line.stream, line.observed_ns) for line in merged] == [
        ("stdout", 4),
        ("stdout", 5),
        ("stderr", 6),
    ]


def test_without_a_tail_every_line_is_merged() -> None:
    merged = merge_tail([lines("stdout", 1, 3), lines("stderr", 2)], None)
    assert [line.observed_ns for line in merged] == [1, 2, 3]


def test_a_zero_tail_is_no_lines() -> None:
    assert list(merge_tail([lines("stdout", 1)], 0)) == []
