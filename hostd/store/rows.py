"""`Rows`: how the lean read queries run a prepared Core select and get plain tuples back.

`CoreRows` runs it on a SQLAlchemy connection (any database, from a worker thread).
`SqliteRows` runs it straight through the sqlite3 driver on the event loop's own
connection to the local file (hostd.store.db.make_loop_reader): the SQL is compiled once
per statement, and the values go through the result processors SQLAlchemy itself would
apply (dates are stored as ISO text, booleans as 0/1). SQLAlchemy's execution and
result machinery cost several times the query itself there, on every request.

The driver runs a SELECT outside any transaction (it only opens one before a change), so
each read sees what was committed last, as a fresh SQLAlchemy connection would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Select

Row = tuple[Any, ...]
AnySelect = Select[*tuple[Any, ...]]


class Rows(Protocol):
    def all(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]: ...


class CoreRows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def all(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        return [tuple(row) for row in self.conn.execute(statement, params)]


class _Prepared:
    def __init__(self, statement: AnySelect, engine: Engine) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.names: Sequence[str] = compiled.positiontup or ()
        # SQLAlchemy's own conversion of each column's values for this dialect (the
        # processors its results apply): ISO text to aware datetimes, 0/1 to booleans.
        dialect = engine.dialect
        processors = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                      for column in statement.selected_columns]
        self.converters = [(i, convert) for i, convert in enumerate(processors)
                           if convert is not None]

    def row(self, raw: tuple[Any, ...]) -> Row:
        if not self.converters:
            return raw
        values = list(raw)
        for i, convert in self.converters:
            values[i] = convert(values[i])
        return tuple(values)


class SqliteRows:
    """On the loop's own SQLite connection, held for the daemon's life (one thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held: Any = None  # the pool's proxy, kept so the connection stays checked out
        self._prepared: dict[AnySelect, _Prepared] = {}

    def all(self, statement: AnySelect, params: Mapping[str, Any]) -> list[Row]:
        prepared = self._prepared.get(statement)
        if prepared is None:
            prepared = self._prepared[statement] = _Prepared(statement, self.engine)
        if self._held is None:
            self._held = self.engine.raw_connection()
        driver: sqlite3.Connection = self._held.driver_connection
        cursor = driver.execute(prepared.sql, [params[name] for name in prepared.names])
        return [prepared.row(raw) for raw in cursor.fetchall()]

    def close(self) -> None:
        if self._held is not None:
            self._held.close()  # back to the pool, which the engine's dispose then closes
            self._held = None
