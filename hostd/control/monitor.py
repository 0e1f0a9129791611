"""The engine monitor: follows Docker's events and reports what happens to the apps.

An app that exits on its own (or is OOM-killed, or killed from outside) is reported to the
supervisor, which starts it again after a backoff. When the engine goes away the monitor
says so (`on_engine_gone`), waits, reconnects with backoff, and runs the reconciler, which
brings back what should run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session

from hostd.control.exits import ExpectedExits
from hostd.control.runtime import EngineUnavailable, Runtime, RuntimeEvent
from hostd.control.supervisor import Supervisor
from hostd.store.models import Project
from hostd.store.models.processes import ProcessReplica

log = logging.getLogger("hostd.monitor")
MAX_BACKOFF_S = 10.0


class EngineMonitor:
    """Follows the engine's events of this instance's containers on a thread of its own;
    `on_connect` runs each time it (re)connects (the reconciler)."""

    def __init__(self, db: Engine, runtime: Runtime, supervisor: Supervisor,
                 expected: ExpectedExits, on_connect: Callable[[], None]) -> None:
        self.db = db
        self.runtime = runtime
        self.supervisor = supervisor
        self.expected = expected
        self.on_connect = on_connect
        self.connected = threading.Event()
        self._gone_reported = False
        self._killed: set[str] = set()  # containers signalled, not yet dead
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="engine-monitor", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._follow()
                backoff = 0.5
            except EngineUnavailable:
                if self.connected.is_set():  # it was up until now: the outage starts here
                    backoff = 0.5
                self._engine_gone()
            except Exception:
                log.exception("engine monitor failed; retrying")
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _engine_gone(self) -> None:
        """Once per outage (and at a start with no engine): projects say why they are down."""
        if self.connected.is_set() or not self._gone_reported:
            log.warning("the Docker engine went away; waiting for it to come back")
            self._gone_reported = True
            try:
                self.supervisor.engine_gone()
            except Exception:
                log.exception("could not mark the projects as waiting for the engine")
        self.connected.clear()
        self.runtime.reset()

    def _follow(self) -> None:
        # Subscribe before reconciling, so nothing that happens in between is missed.
        events = self.runtime.events()
        self.on_connect()
        self.connected.set()
        self._gone_reported = False
        log.info("following Docker engine events")
        for event in events:
            if self._stop.is_set():
                return
            if event.action == "kill":
                self._killed.add(event.replica_id)
            elif event.action == "die":
                self._on_die(event)
        raise EngineUnavailable("the engine's event stream ended")

    def _on_die(self, event: RuntimeEvent) -> None:
        container_id = event.replica_id
        # A kill before the die: someone signalled it, maybe the engine shutting down.
        killed = container_id in self._killed
        self._killed.discard(container_id)
        project_id = event.project_id
        if not project_id or self.expected.consume(container_id):
            return
        with Session(self.db) as session:
            project = session.get(Project, project_id)
        if project is None:
            return
        state = self.runtime.inspect(container_id)
        if project.container_id != container_id:  # web.2…, a worker: a replica's own
            if self._is_replica(container_id):
                self.supervisor.replicas.crashed(container_id, event.exit_code if
                                                 event.exit_code is not None else (
                                                     state.exit_code if state else None),
                                                 bool(state and state.oom_killed))
            return
        code = event.exit_code if event.exit_code is not None else (
            state.exit_code if state else None)
        self.supervisor.crashed(project_id, container_id, code,
                                bool(state and state.oom_killed), killed=killed)

    def _is_replica(self, container_id: str) -> bool:
        with Session(self.db) as session:
            return session.get(ProcessReplica, container_id) is not None
