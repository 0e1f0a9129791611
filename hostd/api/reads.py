"""`Reads`: the authenticated read routes' way to the database, as lean as it goes.

A read is a prepared Core query whose rows become response models without a second
validation pass (no ORM session, no objects to refresh). It runs on the event loop for
the local SQLite file and for PostgreSQL (hostd.store.rows), which saves the two thread
hand-offs that were most of a read's CPU; any other database is reached from a worker
thread, as blocking I/O must be. Rows are kept while this daemon writes nothing
(hostd.store.readcache), so a client polling the same read costs no round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import Response

from hostd.store import dburl
from hostd.store.freshness import Freshness
from hostd.store.models import Metrics, User
from hostd.store.projects import PublicView
from hostd.store.readcache import MAX_ENTRIES, CachedRows
from hostd.store.rows import PgRows, Row, SqliteRows, ThreadRows

PG_READ_CONNECTIONS = 16  # reads hold one for a query's round trip only


class PublicJson:
    """A project's public JSON, kept for as long as what it is made of stays the same:
    its row (rows are kept while nothing is written, hostd.store.readcache), its owner's
    id and handle, whether a deploy is under way and the metrics sample (the very object
    MetricsStore holds until the next one). Building and serializing the model was most
    of what a list of cached rows still cost."""

    def __init__(self, view: PublicView, max_entries: int = MAX_ENTRIES) -> None:
        self.view = view
        self.max_entries = max_entries
        self._kept: dict[tuple[Any, ...], tuple[Metrics | None, bytes]] = {}

    def of_row(self, user: User, row: Sequence[Any]) -> bytes:
        pid = row[0]
        sample, deploying = self.view.metrics.latest(pid), self.view.deploying(pid)
        key = (tuple(row), user.id, user.handle, deploying)
        kept = self._kept.get(key)
        if kept is not None and kept[0] is sample:
            return kept[1]
        data = self.view.shape(user, row, sample, deploying).model_dump_json().encode()
        if len(self._kept) >= self.max_entries:
            self._kept.clear()  # rare; simpler than LRU and always correct
        self._kept[key] = (sample, data)
        return data

    def list_response(self, user: User, rows: list[Row]) -> Response:
        """`{"projects": [...]}`, as ProjectList serializes it."""
        items = b",".join(self.of_row(user, row) for row in rows)
        return Response(b'{"projects":[' + items + b"]}", media_type="application/json")

    def one_response(self, user: User, row: Row) -> Response:
        """`{"project": {...}}`, as ProjectResponse serializes it."""
        return Response(b'{"project":' + self.of_row(user, row) + b"}",
                        media_type="application/json")


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


def json_response(model: BaseModel) -> Response:
    """One serialization straight to bytes (FastAPI would validate the model again)."""
    return Response(model.model_dump_json(), media_type="application/json")
