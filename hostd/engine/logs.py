"""Container logs as lines: the engine's write()-framed chunks re-split, and a followed
log another thread can close."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import docker

from hostd.engine.client import ContainerMissing, translate_errors


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Decoded lines from raw log chunks (the engine frames output by write() calls, not
    by lines); a last line without a newline is yielded at the end."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", errors="replace")


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
