"""`Freshness`: has this daemon written anything since rows were read?

Every change hostd makes goes through its one engine (hostd.store.db.make_engine), so the
engine's own events tell. `generation` moves on every statement that writes and again when
the transaction that wrote ends; `writing` counts the connections whose write has not
ended yet (committed or rolled back). Rows read while nothing was being written, and with
`generation` unmoved by the end of the read, are what the database holds until it moves
again (hostd.store.readcache keeps such rows).

Anything unexpected fails toward "not fresh": an unknown statement counts as a write, and a
connection whose end is missed keeps `writing` above zero, which only stops the keeping.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection, ExecutionContext
from sqlalchemy.pool import ConnectionPoolEntry

_WROTE = "hostd.wrote"  # in a pooled connection's info: its transaction wrote
_READ_ONLY = ("SELECT", "SHOW", "EXPLAIN")  # statements that change nothing


def is_write(statement: str, context: ExecutionContext | None) -> bool:
    # The default context says what a compiled statement does (the interface omits isdelete).
    if context is not None and (context.isinsert or context.isupdate
                                or getattr(context, "isdelete", False)):
        return True
    return not statement.lstrip()[:7].upper().startswith(_READ_ONLY)


class Freshness:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0
        self.writing = 0

    def watch(self, engine: Engine) -> None:
        """Count `engine`'s writes (once, before it is used)."""
        event.listen(engine, "after_cursor_execute", self._executed)
        event.listen(engine, "commit", self._ending)
        event.listen(engine, "rollback", self._ending)
        event.listen(engine, "begin", self._begun)
        for name in ("checkin", "close", "invalidate", "soft_invalidate", "detach"):
            event.listen(engine.pool, name, self._returned)

    def clean(self) -> int | None:
        """The generation now if no write is under way, else None."""
        return self.generation if self.writing == 0 else None

    def unmoved(self, clean: int) -> bool:
        """No write began or ended since `clean()` gave `clean`."""
        return self.writing == 0 and self.generation == clean

    def _executed(self, conn: Connection, _cursor: Any, statement: str, _params: Any,
                  context: ExecutionContext | None, _many: bool) -> None:
        if not is_write(statement, context):
            return
        with self._lock:
            self.generation += 1
            if not conn.info.get(_WROTE):
                conn.info[_WROTE] = True
                self.writing += 1

    def _ending(self, conn: Connection) -> None:
        # Before the driver commits what was written: readers that start now must not
        # keep what they read. (A transaction that only read changes nothing.)
        if conn.info.get(_WROTE):
            with self._lock:
                self.generation += 1

    def _begun(self, conn: Connection) -> None:
        self._ended(conn.info)  # a connection's next transaction: its last one is over

    def _returned(self, _dbapi: DBAPIConnection | None, record: ConnectionPoolEntry,
                  *_exc: Any) -> None:
        self._ended(record.info)

    def _ended(self, info: dict[Any, Any]) -> None:
        if not info.get(_WROTE):
            return
        with self._lock:
            if info.pop(_WROTE, False):
                self.writing -= 1
                self.generation += 1
