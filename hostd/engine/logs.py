"""Container logs as lines: the engine's write()-framed chunks re-split, and a followed
log another thread can close.

An app's output is the app's: a line may be endless. hostd keeps at most LINE_MAX_BYTES
of one (the rest up to its newline is dropped, and the line says so), and a tail at most
TAIL_MAX_BYTES, so reading a log costs bounded memory whatever the app wrote. The engine
stores the log itself (json-file, rotated: hostd.engine.containers); the lines read the
same from any driver that can be read back (json-file, local).

Lines are read with the engine's time of each (`timestamps=True`: an RFC3339Nano prefix
per line), parsed here into `LogLine.at_ns`; the prefix never goes further up.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar

import docker

from hostd.control.runtime import LogLine
from hostd.engine.client import ContainerMissing, translate_errors

T = TypeVar("T")

LINE_MAX_BYTES = 16 * 1024  # the engine's own split size for a long line
TAIL_MAX_BYTES = 4 * 1024 * 1024
CUT_MARK = " [line cut: too long]"
# The engine's RFC3339Nano time (`2026-12-08T03:28:06.123456789Z`) and its space.
STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
                   r"(Z|[+-]\d\d:\d\d)")
STAMP_BYTES = 36  # at most, with the space after it
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def split_lines(chunks: Iterable[bytes], max_bytes: int = LINE_MAX_BYTES) -> Iterator[str]:
    """Decoded lines from raw log chunks (the engine frames output by write() calls, not
    by lines); a last line without a newline is yielded at the end. A line longer than
    `max_bytes` is cut there, and what follows up to its newline dropped."""
    pending = b""
    cutting = False  # inside an overlong line, after its first max_bytes went out
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if cutting:
                cutting = False  # this newline ends the line already cut
                continue
            yield _decode(line[:max_bytes], cut=len(line) > max_bytes)
        if len(pending) > max_bytes:
            if not cutting:
                yield _decode(pending[:max_bytes], cut=True)
            cutting, pending = True, b""
    if pending and not cutting:
        yield _decode(pending, cut=False)


def _decode(line: bytes, cut: bool) -> str:
    text = line.decode("utf-8", errors="replace").rstrip("\r")
    return text + CUT_MARK if cut else text


def stamped_lines(chunks: Iterable[bytes]) -> Iterator[LogLine]:
    """Lines read with `timestamps=True`, each with its time parsed off (a line bounded as
    split_lines bounds it, its prefix not counted)."""
    for raw in split_lines(chunks, LINE_MAX_BYTES + STAMP_BYTES):
        line = parse_stamped(raw)
        if line.text.endswith(CUT_MARK):  # no part of a next piece's prefix is kept
            line = LogLine(line.text[:-len(CUT_MARK)][:LINE_MAX_BYTES] + CUT_MARK, line.at_ns)
        yield line


def parse_stamped(line: str) -> LogLine:
    """`line` less its leading time; the whole line, with no time, when it has none."""
    stamp, space, text = line.partition(" ")
    at_ns = stamp_ns(stamp) if space else None
    return LogLine(line, None) if at_ns is None else LogLine(text, at_ns)


def stamp_ns(stamp: str) -> int | None:
    """An RFC3339 time in ns since the epoch; None when it is not one."""
    found = STAMP.fullmatch(stamp)
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    offset = timedelta(0) if zone == "Z" else (
        (-1 if zone[0] == "-" else 1) * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:])))
    try:
        when = datetime(int(year), int(month), int(day), int(hour), int(minute),
                        int(second), tzinfo=timezone(offset))
    except ValueError:  # month 13, hour 25, an offset of a day
        return None
    return (when - EPOCH) // timedelta(seconds=1) * 10**9 + int((fraction or "").ljust(9, "0"))


def last_lines(lines: Iterable[str], count: int, max_bytes: int = TAIL_MAX_BYTES) -> list[str]:
    """The last `count` of `lines` that fit in `max_bytes` together, read as a stream."""
    return _last(lines, count, max_bytes, len)


def last_timed(lines: Iterable[LogLine], count: int,
               max_bytes: int = TAIL_MAX_BYTES) -> list[LogLine]:
    return _last(lines, count, max_bytes, lambda line: len(line.text))


def _last(lines: Iterable[T], count: int, max_bytes: int, size_of: Callable[[T], int]) -> list[T]:
    kept: deque[T] = deque()
    size = 0
    for line in lines:
        kept.append(line)
        size += size_of(line)
        while len(kept) > count or (size > max_bytes and len(kept) > 1):
            size -= size_of(kept.popleft())
    return list(kept)


def read_timed(client: docker.DockerClient, container_id: str, tail: int) -> list[LogLine]:
    """The container's last `tail` lines with their times, bounded as last_lines."""
    with translate_errors(f"logs of container {container_id}", not_found=ContainerMissing):
        raw = client.containers.get(container_id).logs(stream=True, follow=False, tail=tail,
                                                       timestamps=True)
        try:
            return last_timed(stamped_lines(raw), tail)
        finally:
            raw.close()


class LogStream:
    """A followed container log that another thread can close to stop the reader."""

    def __init__(self, client: docker.DockerClient, container_id: str, tail: int,
                 since_ns: int | None = None) -> None:
        # `since` is inclusive and a float here (µs): a µs earlier, so no line is missed;
        # the caller drops the few it had already.
        since = None if since_ns is None else max(since_ns - 1000, 1000) / 1e9
        with translate_errors(f"logs of container {container_id}", not_found=ContainerMissing):
            container = client.containers.get(container_id)
            self._raw = container.logs(stream=True, follow=True, tail=tail, since=since,
                                       timestamps=True)

    def lines(self) -> Iterator[LogLine]:
        return stamped_lines(self._raw)

    def close(self) -> None:
        self._raw.close()
