"""`Reads`: the authenticated read routes' way to the database, as lean as it goes.

A read is a prepared Core query whose rows become response models without a second
validation pass (no ORM session, no objects to refresh). It runs on the event loop for
the local SQLite file and for PostgreSQL (hostd.store.rows), which saves the two thread
hand-offs that were most of a read's CPU; any other database is reached from a worker
thread, as blocking I/O must be. Rows are kept while this daemon writes nothing
(hostd.store.readcache), so a client polling the same read costs no round trip.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import Response

from hostd.store import dburl
from hostd.store.freshness import Freshness
from hostd.store.projects import PublicView
from hostd.store.readcache import CachedRows
from hostd.store.rows import PgRows, SqliteRows, ThreadRows

PG_READ_CONNECTIONS = 16  # reads hold one for a query's round trip only


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
        # What the read routes use: the database's rows, kept while nothing was written.
        self.rows = CachedRows(self.database, freshness)

    async def open(self) -> None:
        if isinstance(self.database, PgRows):
            await self.database.open()

    async def close(self) -> None:
        await self.database.close()


def json_response(model: BaseModel) -> Response:
    """One serialization straight to bytes (FastAPI would validate the model again)."""
    return Response(model.model_dump_json(), media_type="application/json")
