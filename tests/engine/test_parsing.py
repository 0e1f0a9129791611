"""Small pure helpers of the containers and logs modules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hostd.engine.containers import _parse_time
from hostd.engine.logs import split_lines


def test_engine_timestamps_parse_to_aware_datetimes() -> None:
    assert _parse_time("0001-01-01T00:00:00Z") is None
    assert _parse_time("") is None
    assert _parse_time("2024-05-01T12:30:45.123456789Z") == datetime(
        2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)
    assert _parse_time("2024-05-01T12:30:45.5-02:00") == datetime(
        2024, 5, 1, 12, 30, 45, 500000, tzinfo=timezone(timedelta(hours=-2)))
    assert _parse_time("2024-05-01T12:30:45Z") == datetime(2024, 5, 1, 12, 30, 45, tzinfo=UTC)


def test_log_chunks_are_re_split_into_lines() -> None:
    chunks = [b"one\ntw", b"o\r\n", b"\xff three\n", b"tail"]
    assert list(split_lines(chunks)) == ["one", "two", "\ufffd three", "tail"]
