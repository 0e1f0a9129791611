"""A project's runtime log across its replicas (issue 26): each line marked with the
process it came from (`web.1`, `worker.1`, as Heroku does), filtered to one type or one
replica on request.

Bounded: a tail reads `tail` lines of each replica and keeps the newest `TOTAL_LINES_MAX`
of them all; a follow reads at most `FOLLOWED_REPLICAS_MAX` replicas (each on one of
hostd.control.followers' threads, so the process-wide bound holds too).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from hostd.control.followers import LogFollowers
from hostd.control.runtime import ContainerMissing, LogFollower, Runtime
from hostd.errors import NotFound, ValidationError
from hostd.store.models.processes import ProcessReplica

TOTAL_LINES_MAX = 10_000  # of a tail, all replicas together
FOLLOWED_REPLICAS_MAX = 8  # per followed log
FILTER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}(\.[0-9]{1,3})?")
WEB1 = "web.1"
QUEUED = 64  # (process, line) pairs between the pumps and the stream


@dataclass(frozen=True)
class Source:
    """One replica whose log is read: its name (`worker.2`) and runtime id."""

    name: str
    replica_id: str


def sources(rows: Sequence[ProcessReplica], container_id: str,
            process: str | None) -> list[Source]:
    """The replicas to read, web.1 (the project's container) first, then by type and
    number; only those `process` names (`worker` or `worker.2`) when given."""
    found = {row.id: Source(f"{row.process}.{row.number}", row.id) for row in rows}
    found[container_id] = Source(WEB1, container_id)  # what the project runs, whatever rows say
    every = sorted(found.values(), key=lambda s: (s.name != WEB1, _order(s.name)))
    if process is None:
        return every
    if not FILTER.fullmatch(process):
        raise ValidationError("process must name a process type or a replica, as `worker` "
                              "or `web.2`")
    chosen = [s for s in every if process in (s.name, s.name.rsplit(".", 1)[0])]
    if not chosen:
        raise NotFound(f"No replica of this project is named {process!r}")
    return chosen


def _order(name: str) -> tuple[str, int]:
    kind, _, number = name.rpartition(".")
    return kind, int(number)


def tail(runtime: Runtime, chosen: Sequence[Source], lines: int) -> tuple[list[str], list[str]]:
    """The last `lines` lines of each replica (a replica gone meanwhile has none), and
    each line's process: the newest TOTAL_LINES_MAX in all."""
    text: list[str] = []
    marks: list[str] = []
    for source in chosen:
        try:
            got = runtime.logs(source.replica_id, tail=lines)
        except ContainerMissing:
            if source.name == WEB1 and len(chosen) == 1:
                raise
            continue
        text.extend(got)
        marks.extend([source.name] * len(got))
    return text[-TOTAL_LINES_MAX:], marks[-TOTAL_LINES_MAX:]


def check_follow(followers: LogFollowers, chosen: Sequence[Source]) -> None:
    if len(chosen) > FOLLOWED_REPLICAS_MAX:
        raise ValidationError(f"a followed log reads at most {FOLLOWED_REPLICAS_MAX} "
                              f"replicas: this project runs {len(chosen)}, name one type or "
                              "replica with process=")
    followers.check()


async def follow(followers: LogFollowers, streams: Sequence[tuple[Source, LogFollower]],
                 ) -> AsyncIterator[tuple[str, str]]:
    """(process, line) of every stream as they come, until each has ended. RateLimited
    (before any line) when the follower threads are taken; every stream is closed however
    this ends."""
    queue: asyncio.Queue[tuple[str, str] | Exception | None] = asyncio.Queue(QUEUED)

    async def pump(source: Source, stream: LogFollower) -> None:
        # Each stream's own queue (hostd.control.followers) drops its oldest lines when
        # this falls behind; here a full queue only holds the pump back.
        try:
            async for line in followers.lines(stream):
                await queue.put((source.name, line))
        except Exception as error:  # RateLimited: the follower threads are taken
            await queue.put(error)
            return
        await queue.put(None)

    tasks = [asyncio.ensure_future(pump(source, stream)) for source, stream in streams]
    try:
        ended = 0
        while ended < len(tasks):
            item = await queue.get()
            if isinstance(item, Exception):
                raise item
            if item is None:
                ended += 1
                continue
            yield item
    finally:
        for task in tasks:
            task.cancel()
        for _, stream in streams:
            stream.close()
        await asyncio.gather(*tasks, return_exceptions=True)
