"""Container logs as lines: the engine's write()-framed chunks re-split, and a followed
log another thread can close.

An app's output is the app's: a line may be endless. hostd keeps at most LINE_MAX_BYTES
of one (the rest up to its newline is dropped, and the line says so), and a tail at most
TAIL_MAX_BYTES, so reading a log costs bounded memory whatever the app wrote. The engine
stores the log itself (json-file, rotated: hostd.engine.containers); the lines read the
same from any driver that can be read back (json-file, local).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import docker

from hostd.engine.client import ContainerMissing, translate_errors

LINE_MAX_BYTES = 16 * 1024  # the engine's own split size for a long line
TAIL_MAX_BYTES = 4 * 1024 * 1024
CUT_MARK = " [line cut: too long]"


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


def last_lines(lines: Iterable[str], count: int, max_bytes: int = TAIL_MAX_BYTES) -> list[str]:
    """The last `count` of `lines` that fit in `max_bytes` together, read as a stream."""
    kept: deque[str] = deque()
    size = 0
    for line in lines:
        kept.append(line)
        size += len(line)
        while len(kept) > count or (size > max_bytes and len(kept) > 1):
            size -= len(kept.popleft())
    return list(kept)


class LogStream:
    """A followed container log that another thread can close to stop the reader."""

    def __init__(self, client: docker.DockerClient, container_id: str, tail: int) -> None:
        with translate_errors(f"logs of container {container_id}", not_found=ContainerMissing):
            container = client.containers.get(container_id)
            self._raw = container.logs(stream=True, follow=True, tail=tail)

    def lines(self) -> Iterator[str]:
        return split_lines(self._raw)

    def close(self) -> None:
        self._raw.close()
