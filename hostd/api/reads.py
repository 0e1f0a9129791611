"""`Reads`: the authenticated read routes' way to the database, as lean as it goes.

A read is a prepared Core query (hostd.store.rows: no ORM session, no objects to
refresh) whose rows become response models without a second validation pass. For the
local SQLite file it runs on the event loop, straight through the driver
(hostd.store.db.make_loop_reader: tens of microseconds, never waiting for a writer),
which saves the two thread hand-offs that were most of a read's CPU; any other database
is reached from a worker thread, as blocking I/O must be.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import Response

from hostd.store.projects import PublicView
from hostd.store.rows import CoreRows, Rows, SqliteRows

T = TypeVar("T")


class Reads:
    def __init__(self, db: Engine, loop_reader: Engine | None, view: PublicView) -> None:
        self.db = db
        self.on_loop = SqliteRows(loop_reader) if loop_reader is not None else None
        self.view = view

    async def run(self, query: Callable[[Rows], T]) -> T:
        """`query(rows)`'s result; its errors (NotFound ...) pass through."""
        if self.on_loop is not None:
            return query(self.on_loop)
        return await anyio.to_thread.run_sync(partial(_in_thread, self.db, query))

    def close(self) -> None:
        if self.on_loop is not None:
            self.on_loop.close()


def _in_thread(engine: Engine, query: Callable[[Rows], T]) -> T:
    with engine.connect() as conn:
        return query(CoreRows(conn))


def json_response(model: BaseModel) -> Response:
    """One serialization straight to bytes (FastAPI would validate the model again)."""
    return Response(model.model_dump_json(), media_type="application/json")
