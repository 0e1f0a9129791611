"""Small pure helpers of the containers and logs modules."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

from hostd.control.processlogs import interleave
from hostd.control.runtime import LogLine
from hostd.engine.containers import _parse_time
from hostd.engine.logs import (
    CUT_MARK,
    LINE_MAX_BYTES,
    last_lines,
    parse_stamped,
    split_lines,
    stamped_lines,
)


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


AT = 1796700486  # 2026-12-08T03:28:06Z


def test_a_stamped_line_loses_its_time_prefix_to_its_field() -> None:
    ns = AT * 10**9
    assert parse_stamped("2026-12-08T03:28:06.123456789Z GET / 200") == LogLine(
        "GET / 200", ns + 123456789)
    assert parse_stamped("2026-12-08T05:28:06.5+02:00 a b") == LogLine("a b", ns + 500_000_000)
    assert parse_stamped("2026-12-08T03:28:06Z ") == LogLine("", ns)
    for odd in ("no time here", "2026-13-08T03:28:06Z x", "2026-12-08T03:28:06 x",
                "2026-12-08T03:28:06.1234567891Z x", "2026-12-08T03:28:06+99:00 x", ""):
        assert parse_stamped(odd) == LogLine(odd, None)


def test_a_long_stamped_line_is_cut_as_an_unstamped_one() -> None:
    stamp = b"2026-12-08T03:28:06.000000001Z "
    chunks = [stamp + b"x" * LINE_MAX_BYTES, stamp + b"y" * 50 + b"\n", stamp + b"ok\n"]
    first, second = stamped_lines(chunks)
    assert first.text == "x" * LINE_MAX_BYTES + CUT_MARK and first.at_ns == AT * 10**9 + 1
    assert second == LogLine("ok", AT * 10**9 + 1)


def test_interleaving_orders_by_time_and_keeps_each_replicas_own_order() -> None:
    web = [LogLine("w1", 10), LogLine("w-untimed", None), LogLine("w2", 30)]
    worker = [LogLine("k0", 5), LogLine("k1", 20), LogLine("k-late-clock", 15)]
    merged = interleave(interleave([], "web.1", web), "worker.1", worker)
    assert [text for _, _, text in merged] == [
        "k0", "w1", "w-untimed", "k1", "k-late-clock", "w2"]
    ties = interleave(interleave([], "web.1", [LogLine("a", 1)]), "web.2", [LogLine("b", 1)])
    assert [name for _, name, _ in ties] == ["web.1", "web.2"]
