"""`Reads`: the authenticated read routes' way to the database, as lean as it goes.

A read is a prepared Core query whose rows become response models without a second
validation pass (no ORM session, no objects to refresh). It runs on the event loop for
the local SQLite file and for PostgreSQL (hostd.store.rows), which saves the two thread
hand-offs that were most of a read's CPU; any other database is reached from a worker
thread, as blocking I/O must be. Rows are kept while this daemon writes nothing
(hostd.store.readcache), so a client polling the same read costs no round trip. The
bodies are bytes; hostd.api.reads makes them responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from hostd.store import dburl
from hostd.store.freshness import Freshness
from hostd.store.models import Metrics, User
from hostd.store.projects import PUBLIC_NAMES, PublicView
from hostd.store.readcache import MAX_ENTRIES, CachedRows
from hostd.store.rows import PgRows, Row, SqliteRows, ThreadRows

PG_READ_CONNECTIONS = 16  # reads hold one for a query's round trip only


@dataclass(frozen=True)
class _KeptList:
    rows: list[Row]
    live: list[tuple[Metrics | None, bool]]
    body: bytes


class PublicJson:
    """A project's public JSON, kept for as long as what it is made of stays the same:
    its row (rows are kept while nothing is written, hostd.store.readcache), its owner's
    id and handle, whether a deploy is under way and the metrics sample (the very object
    MetricsStore holds until the next one). Building and serializing the model was most
    of what a list of cached rows still cost. A user's whole list body is kept the same
    way: the same rows (kept rows hold the very same tuples) and the same live parts."""

    def __init__(self, view: PublicView, max_entries: int = MAX_ENTRIES) -> None:
        self.view = view
        self.max_entries = max_entries
        self._id_at = PUBLIC_NAMES.index("id")
        self._kept: dict[tuple[Any, ...], tuple[Metrics | None, bytes]] = {}
        self._lists: dict[tuple[str, str], _KeptList] = {}

    def _live(self, row: Row) -> tuple[Metrics | None, bool]:
        pid = row[self._id_at]
        return self.view.metrics.latest(pid), self.view.deploying(pid)

    def of_row(self, user: User, row: Row,
               live: tuple[Metrics | None, bool] | None = None) -> bytes:
        sample, deploying = live or self._live(row)
        key = (row, user.id, user.handle, deploying)
        kept = self._kept.get(key)
        if kept is not None and kept[0] is sample:
            return kept[1]
        data = self.view.shape(user, self.view.named(row), sample, deploying)
        body = data.model_dump_json().encode()
        _bounded(self._kept, self.max_entries)
        self._kept[key] = (sample, body)
        return body

    def list_body(self, user: User, rows: list[Row]) -> bytes:
        """`{"projects": [...]}`, as ProjectList serializes it."""
        live = [self._live(row) for row in rows]
        key = (user.id, user.handle)
        kept = self._lists.get(key)
        # Equal rows and parts: mostly the very same objects, compared by identity first.
        if kept is None or kept.rows != rows or kept.live != live:
            items = b",".join(self.of_row(user, row, parts)
                              for row, parts in zip(rows, live, strict=True))
            kept = _KeptList(list(rows), live, b'{"projects":[' + items + b"]}")
            _bounded(self._lists, self.max_entries)
            self._lists[key] = kept
        return kept.body

    def one_body(self, user: User, row: Row) -> bytes:
        """`{"project": {...}}`, as ProjectResponse serializes it."""
        return b'{"project":' + self.of_row(user, row) + b"}"


def _bounded(kept: dict[Any, Any], max_entries: int) -> None:
    if len(kept) >= max_entries:
        kept.clear()  # rare; simpler than LRU and always correct


class Reads:
    def __init__(self, db: Engine, loop_reader: Engine | None, view: PublicView,
                 freshness: Freshness) -> None:
        self.view = view
        self.database: SqliteRows | PgRows | ThreadRows
        if loop_reader is not None:
            self.database = SqliteRows(loop_reader)
        elif dburl.is_postgres_psycopg(db.url):
            self.database = PgRows(db.url, db.dialect, PG_READ_CONNECTIONS)
        else:
            self.database = ThreadRows(db)
        # What the read routes use: the database's rows, kept while nothing was written,
        # and each project's JSON, kept while its parts stay the same.
        self.rows = CachedRows(self.database, freshness)
        self.json = PublicJson(view)

    async def open(self) -> None:
        if isinstance(self.database, PgRows):
            await self.database.open()

    async def close(self) -> None:
        await self.database.close()

