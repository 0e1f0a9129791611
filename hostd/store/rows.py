"""`Rows`: how the lean read queries run a prepared Core select and get plain tuples back,
on whichever database, with as little in between as it allows.

- `SqliteRows` runs it straight through the sqlite3 driver on the event loop's own
  connection to the local file (hostd.store.db.make_loop_reader): a read takes tens of
  microseconds and never waits for a writer (WAL), so it needs no thread.
- `PgRows` runs it on the event loop through psycopg's async connection pool: no thread
  hand-off (two per read, the larger part of a read's CPU), no SQLAlchemy execution.
- `ThreadRows` runs it through SQLAlchemy in a worker thread: any other database.

The SQL is compiled by SQLAlchemy once per statement and dialect, and the values go
through the result processors SQLAlchemy itself would apply (SQLite stores dates as ISO
text and booleans as 0/1), so each gives what a SQLAlchemy connection would: the tests
compare them. Each read sees what was committed last: the drivers run a lone SELECT
outside any transaction (sqlite3 opens one only before a change; the pool's connections
are in autocommit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from functools import partial
from typing import Any, Protocol

import anyio
from sqlalchemy import Connection, Engine, Select
from sqlalchemy.engine import URL, Dialect

Row = tuple[Any, ...]
AnySelect = Select[*tuple[Any, ...]]


class Rows(Protocol):
    async def all(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]: ...


class _Prepared:
    def __init__(self, statement: AnySelect, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.positional = compiled.positiontup is not None
        self.names = list(compiled.positiontup or compiled.params)
        # SQLAlchemy's own conversion of each column's values for this dialect (the
        # processors its results apply): ISO text to aware datetimes, 0/1 to booleans.
        processors = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                      for column in statement.selected_columns]
        self.converters = [(i, convert) for i, convert in enumerate(processors)
                           if convert is not None]

    def args(self, params: Mapping[str, Any]) -> Any:
        if self.positional:
            return [params[name] for name in self.names]
        return {name: params[name] for name in self.names}

    def row(self, raw: tuple[Any, ...]) -> Row:
        if not self.converters:
            return tuple(raw)
        values = list(raw)
        for i, convert in self.converters:
            values[i] = convert(values[i])
        return tuple(values)


class _Statements:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._prepared: dict[AnySelect, _Prepared] = {}

    def __getitem__(self, statement: AnySelect) -> _Prepared:
        prepared = self._prepared.get(statement)
        if prepared is None:
            prepared = self._prepared[statement] = _Prepared(statement, self.dialect)
        return prepared


class SqliteRows:
    """On the loop's own SQLite connection, held for the daemon's life (one thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held: Any = None  # the pool's proxy, kept so the connection stays checked out
        self._statements = _Statements(engine.dialect)

    async def all(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        return self.now(statement, params)

    def now(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        prepared = self._statements[statement]
        if self._held is None:
            self._held = self.engine.raw_connection()
        driver: sqlite3.Connection = self._held.driver_connection
        cursor = driver.execute(prepared.sql, prepared.args(params))
        return [prepared.row(raw) for raw in cursor.fetchall()]

    async def close(self) -> None:
        if self._held is not None:
            self._held.close()  # back to the pool, which the engine's dispose then closes
            self._held = None


class PgRows:
    """On the event loop, through a small psycopg async pool of its own (opened and closed
    by the daemon's lifespan)."""

    def __init__(self, url: URL, dialect: Dialect, size: int) -> None:
        from psycopg import OperationalError
        from psycopg_pool import AsyncConnectionPool

        self._dropped = OperationalError

        # The URL's password goes to the driver only; nothing here logs the conninfo.
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool = AsyncConnectionPool(conninfo, min_size=1, max_size=size, open=False,
                                         kwargs={"autocommit": True}, name="hostd-reads")
        self._statements = _Statements(dialect)

    async def open(self) -> None:
        await self._pool.open()

    async def all(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        prepared = self._statements[statement]
        try:
            return await self._run(prepared, params)
        except self._dropped:
            # The server dropped the connections (a restart): every idle one is dead.
            # Replace them and ask once more, as pool_pre_ping does for the main pool.
            await self._pool.check()
            return await self._run(prepared, params)

    async def _run(self, prepared: _Prepared, params: Mapping[str, Any]) -> list[Row]:
        async with self._pool.connection() as conn:
            # Prepared on each connection at first use (psycopg would wait for a fifth) and
            # binary: the server neither parses nor plans it again, nor prints the values.
            cursor = await conn.execute(prepared.sql, prepared.args(params), prepare=True,
                                        binary=True)
            raws = await cursor.fetchall()
        return [prepared.row(raw) for raw in raws]

    async def close(self) -> None:
        await self._pool.close()


class CoreRows:
    """Through SQLAlchemy on a connection of its own: blocking, for a worker thread."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def now(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        return [tuple(row) for row in self.conn.execute(statement, params)]


class ThreadRows:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def all(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        return await anyio.to_thread.run_sync(partial(self._now, statement, params))

    def _now(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        with self.engine.connect() as conn:
            return CoreRows(conn).now(statement, params)

    async def close(self) -> None:
        return None
