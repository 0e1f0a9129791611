"""A project's runtime log, followed (`logs?follow=true`, issue 26): the replicas' tails
interleaved by time, then each replica's new lines as they come, including replicas that
start while it is followed (a scale-up, a redeploy's new release, a crash restart).

The project's replicas are listed again every RELIST_S and whenever a followed one ends.
A replica not followed yet, or running again since its log ended, is followed from the
time of the last line read of it (or of the follow's start), so no line comes twice or
goes missing between the tail and the follow. At most FOLLOWED_REPLICAS_MAX at once, each
on one of hostd.control.followers' threads; the follow ends when none is left to follow,
or with its stream (the client leaving, its token's end).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import anyio

from hostd.control.followers import QUEUED_LINES, LogFollowers
from hostd.control.processlogs import (
    FOLLOWED_REPLICAS_MAX,
    Source,
    last_stamp,
    newest,
    read_tails,
)
from hostd.control.runtime import ContainerMissing, EngineError, LogFollower, Runtime
from hostd.errors import RateLimited

RELIST_S = 1.0
BACKLOG = QUEUED_LINES  # lines a follow may catch up on (more, the followers' queue drops)
QUEUED = 64  # (process, line) pairs between the pumps and the stream
Relist = Callable[[], list[Source]]  # blocking: the project's replicas the filter names


@dataclass(frozen=True)
class _Ended:
    replica_id: str


Item = tuple[str, str] | _Ended | RateLimited


async def follow(runtime: Runtime, followers: LogFollowers, chosen: Sequence[Source],
                 tail: int, relist: Relist) -> AsyncIterator[tuple[str, str]]:
    """(process, line): the newest `tail` lines of `chosen` in time order, then every new
    line of the replicas `relist` names, as they come. RateLimited (before any followed
    line) when the follower threads are taken; every stream is closed however this ends."""
    begun_ns = time.time_ns()
    try:
        read = await anyio.to_thread.run_sync(read_tails, runtime, chosen, tail)
    except ContainerMissing:
        read = []
    for line in newest(read, tail):
        yield line
    pumps = _Pumps(runtime, followers)
    try:
        for source, lines in read[:FOLLOWED_REPLICAS_MAX]:
            pumps.begin(source, last_stamp(lines, begun_ns), first=True)
        next_relist = time.monotonic() + RELIST_S
        while pumps.tasks:
            try:
                item: Item | None = await asyncio.wait_for(
                    pumps.queue.get(), max(0.0, next_relist - time.monotonic()))
            except TimeoutError:
                item = None
            if isinstance(item, RateLimited):
                raise item
            if isinstance(item, tuple):
                yield item
            if isinstance(item, _Ended):
                pumps.tasks.pop(item.replica_id, None)
            if isinstance(item, _Ended) or time.monotonic() >= next_relist:
                pumps.more(await anyio.to_thread.run_sync(relist), begun_ns)
                next_relist = time.monotonic() + RELIST_S
    finally:
        await pumps.stop()


class _Pumps:
    """The replicas followed now, each read by a task into one bounded queue."""

    def __init__(self, runtime: Runtime, followers: LogFollowers) -> None:
        self._runtime = runtime
        self._followers = followers
        self.queue: asyncio.Queue[Item] = asyncio.Queue(QUEUED)
        self.tasks: dict[str, asyncio.Future[None]] = {}
        self._streams: dict[str, LogFollower] = {}
        self._since: dict[str, int] = {}  # the time of the last line read, by replica
        self._runs: dict[str, datetime | None] = {}  # the run each was last followed in

    def begin(self, source: Source, since_ns: int, first: bool) -> None:
        self._since.setdefault(source.replica_id, since_ns)
        self._runs[source.replica_id] = source.started
        self.tasks[source.replica_id] = asyncio.ensure_future(self._pump(source, first))

    def more(self, listed: Sequence[Source], begun_ns: int) -> None:
        """Follow those of `listed` that run and are not followed in this run of theirs,
        while fewer than FOLLOWED_REPLICAS_MAX are."""
        for source in listed:
            rid = source.replica_id
            if len(self.tasks) >= FOLLOWED_REPLICAS_MAX:
                return
            if rid in self.tasks or source.started is None or (
                    rid in self._runs and self._runs[rid] == source.started):
                continue
            self.begin(source, begun_ns, first=False)

    async def _pump(self, source: Source, first: bool) -> None:
        rid = source.replica_id
        try:
            stream = await anyio.to_thread.run_sync(self._open, source)
            # Each stream's own queue (hostd.control.followers) drops its oldest lines
            # when this falls behind; here a full queue only holds the pump back.
            async for line in self._followers.lines(stream):
                if line.at_ns is not None:
                    if line.at_ns <= self._since[rid]:
                        continue  # read already (the engine's `since` counts from there)
                    self._since[rid] = line.at_ns
                await self.queue.put((source.name, line.text))
        except RateLimited as error:
            if first:
                await self.queue.put(error)
                return
            self._runs.pop(rid, None)  # not followed: tried again at the next listing
        except EngineError:  # gone meanwhile, or the engine away: nothing more to read
            pass
        finally:
            if (opened := self._streams.pop(rid, None)) is not None:
                opened.close()
        await self.queue.put(_Ended(rid))

    def _open(self, source: Source) -> LogFollower:  # on a worker thread
        stream = self._runtime.follow_logs(source.replica_id, BACKLOG,
                                           self._since[source.replica_id])
        self._streams[source.replica_id] = stream
        return stream

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        for stream in list(self._streams.values()):
            stream.close()
