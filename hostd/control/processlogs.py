"""A project's runtime log across its replicas (issue 26): each line marked with the
process it came from (`web.1`, `worker.1`, as Heroku does), filtered to one type or one
replica on request, the replicas' lines interleaved by the time each was written.

Bounded: a tail reads `tail` lines of each replica and keeps the newest `tail` of them
all (never more than TOTAL_LINES_MAX); a follow (hostd.control.logfollow) reads at most
FOLLOWED_REPLICAS_MAX replicas at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hostd.control.followers import LogFollowers
from hostd.control.runtime import ContainerMissing, LogLine, Runtime
from hostd.errors import NotFound, ValidationError
from hostd.store.models import Project
from hostd.store.models.processes import ProcessReplica

TOTAL_LINES_MAX = 10_000  # of a tail, all replicas together
FOLLOWED_REPLICAS_MAX = 8  # per followed log, at once
FILTER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}(\.[0-9]{1,3})?")
WEB1 = "web.1"


@dataclass(frozen=True)
class Source:
    """One replica whose log is read: its name (`worker.2`), runtime id, and since when
    it runs as hostd last saw it (None: not running; a restart changes it)."""

    name: str
    replica_id: str
    started: datetime | None = None


def sources(rows: Sequence[ProcessReplica], project: Project,
            process: str | None) -> list[Source]:
    """The replicas to read, web.1 (the project's container) first, then by type and
    number; only those `process` names (`worker` or `worker.2`) when given."""
    if process is not None and not FILTER.fullmatch(process):
        raise ValidationError("process must name a process type or a replica, as `worker` "
                              "or `web.2`")
    chosen = matching(rows, project, process)
    if not chosen:
        raise NotFound(f"No replica of this project is named {process!r}")
    return chosen


def matching(rows: Sequence[ProcessReplica], project: Project,
             process: str | None) -> list[Source]:
    """sources() without its checks: those of `rows` that `process` names, maybe none."""
    found = {row.id: Source(f"{row.process}.{row.number}", row.id, row.running_since)
             for row in rows}
    if project.container_id:  # what the project runs (and since when), whatever rows say
        found[project.container_id] = Source(WEB1, project.container_id,
                                             project.running_since)
    every = sorted(found.values(), key=lambda s: (s.name != WEB1, _order(s.name)))
    if process is None:
        return every
    return [s for s in every if process in (s.name, s.name.rsplit(".", 1)[0])]


def _order(name: str) -> tuple[str, int]:
    kind, _, number = name.rpartition(".")
    return kind, int(number)


def tail(runtime: Runtime, chosen: Sequence[Source], lines: int) -> tuple[list[str], list[str]]:
    """The newest `lines` lines of the replicas together (a replica gone meanwhile has
    none) in the order they were written, and each line's process."""
    merged = newest(read_tails(runtime, chosen, lines), lines)
    return [text for _, text in merged], [name for name, _ in merged]


def newest(read: Sequence[tuple[Source, Sequence[LogLine]]], lines: int) -> list[tuple[str, str]]:
    """(process, text) of the newest `lines` (≤ TOTAL_LINES_MAX) of `read`, oldest first."""
    keep = min(lines, TOTAL_LINES_MAX)
    merged: list[tuple[int, str, str]] = []
    for source, got in read:  # trimmed as it goes: a replica's worth more at most
        merged = interleave(merged, source.name, got)[-keep:] if keep > 0 else []
    return [(name, text) for _, name, text in merged]


def read_tails(runtime: Runtime, chosen: Sequence[Source],
               lines: int) -> list[tuple[Source, list[LogLine]]]:
    """The last `lines` (≤ TOTAL_LINES_MAX) timed lines of each replica still there."""
    read: list[tuple[Source, list[LogLine]]] = []
    lines = min(lines, TOTAL_LINES_MAX)
    for source in chosen:
        try:
            read.append((source, runtime.timed_logs(source.replica_id, lines)
                         if lines > 0 else []))
        except ContainerMissing:
            if source.name == WEB1 and len(chosen) == 1:
                raise
    return read


def interleave(merged: list[tuple[int, str, str]], name: str,
               lines: Sequence[LogLine]) -> list[tuple[int, str, str]]:
    """`merged` (time, process, text), sorted, with one more replica's lines in: by time,
    a replica's own lines always in their order (a line without a time goes with the one
    before it), and lines of the same time in the order their replicas came."""
    known = next((line.at_ns for line in lines if line.at_ns is not None), 0)
    keyed = []
    for line in lines:
        known = max(known, line.at_ns if line.at_ns is not None else known)
        keyed.append((known, name, line.text))
    return sorted(merged + keyed, key=lambda entry: entry[0])  # stable


def last_stamp(lines: Sequence[LogLine], otherwise: int) -> int:
    """The newest time among `lines`, the point to follow a replica on from."""
    return max((line.at_ns for line in lines if line.at_ns is not None), default=otherwise)


def check_follow(followers: LogFollowers, chosen: Sequence[Source]) -> None:
    if len(chosen) > FOLLOWED_REPLICAS_MAX:
        raise ValidationError(f"a followed log reads at most {FOLLOWED_REPLICAS_MAX} "
                              f"replicas: this project runs {len(chosen)}, name one type or "
                              "replica with process=")
    followers.check()
