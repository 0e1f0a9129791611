"""Small pure helpers of the containers and logs modules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

from hostd.engine.containers import _parse_time
from hostd.engine.logs import CUT_MARK, last_lines, split_lines


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


def test_an_endless_line_costs_bounded_memory_and_says_it_was_cut() -> None:
    produced = 0

    def endless() -> Iterator[bytes]:  # 64 MiB without a newline, then one short line
        nonlocal produced
        for _ in range(1024):
            produced += 65536
            yield b"x" * 65536
        yield b"\nafter\n"

    lines = list(split_lines(endless(), max_bytes=1024))
    assert produced == 64 * 2**20
    assert lines == ["x" * 1024 + CUT_MARK, "after"]
    # Short lines pass unchanged; a long one inside a chunk is cut the same way.
    assert list(split_lines([b"ok\n" + b"y" * 2000 + b"\nok\n"], max_bytes=1024)) == [
        "ok", "y" * 1024 + CUT_MARK, "ok"]
    assert list(split_lines([b"z" * 1500], max_bytes=1024)) == ["z" * 1024 + CUT_MARK]


def test_a_tail_keeps_the_newest_lines_that_fit() -> None:
    lines = [f"{n:04d}" for n in range(100)]
    assert last_lines(iter(lines), 3) == ["0097", "0098", "0099"]
    assert last_lines(iter(lines), 50, max_bytes=10) == ["0098", "0099"]
    assert last_lines(iter(["a" * 100]), 5, max_bytes=10) == ["a" * 100]  # never empty
    assert last_lines(iter(lines), 0) == []
