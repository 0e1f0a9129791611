"""`CachedRows`: the read routes' rows kept in memory while nothing has been written.

A client polls the same few reads (`hostctl top`, a dashboard, a health check); asking the
database again each time is most of such a read's cost on PostgreSQL, whose round trip
wakes two processes. Rows are kept under the statement and every one of its parameters
(so the owner's id too: nobody is answered from another's rows) and given again only while
`Freshness` says this daemon has written nothing since they were read. A change answers
only after its commit, when the generation has already moved, so the next read sees it.

`ttl_s` bounds how long rows are kept anyway: what another process writes to a shared
database (another daemon) shows within it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hostd.store.freshness import Freshness
from hostd.store.rows import AnySelect, Row, Rows

TTL_S = 1.0
MAX_ENTRIES = 4096  # ~ a few MB: each entry is a user's rows of one read


@dataclass(frozen=True)
class _Kept:
    rows: list[Row]
    generation: int
    until: float


class CachedRows:
    def __init__(self, rows: Rows, freshness: Freshness, ttl_s: float = TTL_S,
                 max_entries: int = MAX_ENTRIES) -> None:
        self.rows = rows
        self.freshness = freshness
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._kept: dict[tuple[Any, ...], _Kept] = {}

    async def all(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        key = (statement, *sorted(params.items()))
        kept = self._kept.get(key)
        now = time.monotonic()
        # An unmoved generation: no write has even begun since these rows were read.
        if kept is not None and kept.generation == self.freshness.generation \
                and kept.until > now:
            return list(kept.rows)
        clean = self.freshness.clean()
        rows = await self.rows.all(statement, params)
        if clean is not None and self.freshness.unmoved(clean):
            if len(self._kept) >= self.max_entries:
                self._kept.clear()  # rare; simpler than LRU and always correct
            self._kept[key] = _Kept(list(rows), clean, now + self.ttl_s)
        return rows
