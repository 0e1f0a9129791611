"""`Reads`: the authenticated read routes' way to the database, as lean as it goes.

A read is a prepared Core query whose rows become response models without a second
validation pass (no ORM session, no objects to refresh). It runs on the event loop for
the local SQLite file and for PostgreSQL (hostd.store.rows), which saves the two thread
hand-offs that were most of a read's CPU; any other database is reached from a worker
thread, as blocking I/O must be.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import Response

from hostd.store import dburl
from hostd.store.projects import PublicView
from hostd.store.rows import PgRows, SqliteRows, ThreadRows

PG_READ_CONNECTIONS = 16  # reads hold one for a query's round trip only


class Reads:
    def __init__(self, db: Engine, loop_reader: Engine | None, view: PublicView) -> None:
        self.view = view
        self.rows: SqliteRows | PgRows | ThreadRows
        if loop_reader is not None:
            self.rows = SqliteRows(loop_reader)
        elif dburl.is_postgres_psycopg(db.url):
            self.rows = PgRows(db.url, db.dialect, PG_READ_CONNECTIONS)
        else:
            self.rows = ThreadRows(db)

    async def open(self) -> None:
        if isinstance(self.rows, PgRows):
            await self.rows.open()

    async def close(self) -> None:
        await self.rows.close()


def json_response(model: BaseModel) -> Response:
    """One serialization straight to bytes (FastAPI would validate the model again)."""
    return Response(model.model_dump_json(), media_type="application/json")
