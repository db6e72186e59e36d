"""Reading what Docker says: its RFC 3339 timestamps to epoch nanoseconds, exactly (report
ordering depends on it), the host ports a container's inspect data says Docker bound, and which
listed containers show their record's state to a relist."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workers.docker.observe import bound_ports, parse_docker_time, shows_its_record

# 2026-11-26T21:23:38Z as whole seconds since the epoch.
SECONDS = int(datetime(2026, 11, 26, 21, 23, 38, tzinfo=UTC).timestamp())
NS = SECONDS * 1_000_000_000


def test_nanosecond_precision_is_kept_exactly() -> None:
    assert parse_docker_time("2026-11-26T21:23:38.123456789Z") == NS + 123_456_789


def test_two_times_one_nanosecond_apart_stay_apart() -> None:
    earlier = parse_docker_time("2026-11-26T21:23:38.123456788Z")
    later = parse_docker_time("2026-11-26T21:23:38.123456789Z")
    assert earlier is not None and later is not None
    assert later - earlier == 1


@pytest.mark.parametrize(
    ("value", "fraction_ns"),
    [
        ("2026-11-26T21:23:38.1Z", 100_000_000),
        ("2026-11-26T21:23:38.000000001Z", 1),
        ("2026-11-26T21:23:38.123456Z", 123_456_000),
    ],
)
def test_a_short_fraction_is_scaled_to_nanoseconds(value: str, fraction_ns: int) -> None:
    assert parse_docker_time(value) == NS + fraction_ns


def test_a_time_without_a_fraction_is_whole_seconds() -> None:
    assert parse_docker_time("2026-11-26T21:23:38Z") == NS


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000000Z"])
def test_dockers_zero_time_means_never(value: str) -> None:
    assert parse_docker_time(value) is None


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_time_means_never(value: str | None) -> None:
    assert parse_docker_time(value) is None


def test_an_explicit_utc_offset_is_the_same_instant_as_z() -> None:
    assert parse_docker_time("2026-11-26T21:23:38+00:00") == NS


def test_a_non_utc_offset_is_converted_to_utc() -> None:
    assert parse_docker_time("2026-11-26T23:23:38+02:00") == NS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-26T21:23:38.5+00:00", NS + 500_000_000),
        ("2026-11-26T23:23:38.123456789+02:00", NS + 123_456_789),
        ("2026-11-26T16:23:38.000000001-05:00", NS + 1),
    ],
)
def test_a_fraction_followed_by_an_offset_is_parsed(value: str, expected: int) -> None:
    # RFC 3339 allows any offset after a fraction; the offset's digits are not part of it.
    assert parse_docker_time(value) == expected


def test_bound_ports_are_read_from_dockers_network_settings() -> None:
    attrs = {
        "NetworkSettings": {
            "Ports": {
                "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}],
                "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
                "9000/tcp": None,
            }
        }
    }
    assert bound_ports(attrs) == [
        {"protocol": "udp", "inner_port": 53, "host_ip": "0.0.0.0", "outer_port": 5353},
        {"protocol": "tcp", "inner_port": 80, "host_ip": "127.0.0.1", "outer_port": 49153},
    ]


def test_a_stopped_container_has_no_bound_ports() -> None:
    assert bound_ports({"NetworkSettings": {"Ports": {}}}) == []


@pytest.mark.parametrize("status", ["running", "restarting", "paused", "exited"])
def test_a_container_that_ran_shows_its_records_state(status: str) -> None:
    assert shows_its_record(status)


@pytest.mark.parametrize("status", ["created", "removing", "dead"])
def test_a_container_never_started_or_on_its_way_out_shows_nothing_of_its_record(
    status: str,
) -> None:
    """A first start that failed when its Engine went away leaves its container dead, half
    removed, until Docker finishes the removal at its next start: a record adopting it as
    Stopped would then be lost (Terminated: its container gone) though its start just failed."""
    assert not shows_its_record(status)
