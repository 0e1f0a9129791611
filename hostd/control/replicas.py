"""Crash restarts of the formation's replicas (web.2…, every other process type).

The supervisor's rules (hostd.control.supervision), per replica instead of per project: a
replica that exits on its own while its project should run is started again after a
backoff (1 s, doubling with each crash in a row, at most 5 min; ten minutes up forgives
the streak). Its row keeps its `restarts`, `crash_streak` and last exit; the project's
`restarts` counts every replica's and its `last_exit` is the newest of any, so the
project's JSON keeps its meaning ("how has this app fared"). A web replica stops serving
at its crash and serves again once it answers. web.1's crashes stay the project's own
(hostd.control.supervisor): they also set the project's status.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine
from sqlmodel import Session

from hostd.control.formation import Formation, owner_of
from hostd.control.runtime import WEB, EngineError, Runtime
from hostd.control.status import StatusBoard
from hostd.control.supervision import FORGIVEN_AFTER_S, backoff_s, describe_exit
from hostd.store.models import DesiredStatus, Project, ProjectStatus, User, as_utc, utcnow
from hostd.store.models.processes import ProcessReplica

log = logging.getLogger("hostd.supervisor")
CONFIRM_S = 0.5  # as the supervisor's: a die looked at again this much later


class ReplicaSupervisor:
    def __init__(self, runtime: Runtime, db: Engine, board: StatusBoard,
                 formation: Formation, health_timeout_s: float) -> None:
        self._runtime = runtime
        self._db = db
        self._board = board
        self._formation = formation
        self._health_timeout_s = health_timeout_s
        self._lock = threading.Lock()
        self._timers: dict[str, threading.Timer] = {}
        self._closed = False

    def crashed(self, replica_id: str, code: int | None, oom: bool) -> None:
        """The engine says this replica died, and hostd did not stop it."""
        self._later(replica_id, CONFIRM_S, self._confirm, code, oom)

    def start_soon(self, replica_id: str) -> None:
        """Start it now (the reconciler found it down); not counted as a crash."""
        self._later(replica_id, 0.0, self._start, False)

    def cancel_all(self) -> None:
        with self._lock:
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            timer.cancel()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.cancel_all()

    def _later(self, replica_id: str, delay_s: float, function: object, *args: object) -> None:
        with self._lock:
            if self._closed:
                return
            previous = self._timers.pop(replica_id, None)
            if previous is not None:
                previous.cancel()
            timer = threading.Timer(delay_s, function, (replica_id, *args))  # type: ignore[arg-type]
            timer.daemon = True
            self._timers[replica_id] = timer
        timer.start()

    def _loaded(self, replica_id: str) -> tuple[ProcessReplica, Project] | None:
        """Its row and project, when keeping it up is the supervisor's job."""
        with Session(self._db) as session:
            row = session.get(ProcessReplica, replica_id)
            project = session.get(Project, row.project_id) if row is not None else None
        if row is None or project is None or project.desired_status != DesiredStatus.running \
                or project.status == ProjectStatus.stopped:
            return None
        return row, project

    def _confirm(self, replica_id: str, code: int | None, oom: bool) -> None:
        loaded = self._loaded(replica_id)
        if loaded is None or not self._runtime.reachable():
            return  # gone, stopped by its owner, or the engine going away (no crash)
        row, project = loaded
        state = self._runtime.inspect(replica_id)
        if state is not None and state.running:
            return
        self._record_crash(row, project, code, oom)

    def _record_crash(self, row: ProcessReplica, project: Project, code: int | None,
                      oom: bool) -> None:
        now = utcnow()
        up = row.running_since
        forgiven = up is not None and (now - as_utc(up)).total_seconds() >= FORGIVEN_AFTER_S
        streak = 1 if forgiven else row.crash_streak + 1
        delay = backoff_s(streak)
        was_serving = row.serving
        with Session(self._db) as session:
            found = session.get(ProcessReplica, row.id)
            if found is None:
                return
            found.crash_streak, found.running_since, found.serving = streak, None, False
            found.last_exit_code, found.last_exit_oom, found.last_exit_at = code, oom, now
            session.add(found)
            session.commit()
        self._board.update_fields(project.id, last_exit_code=code, last_exit_oom=oom,
                                  last_exit_at=now)
        if was_serving:
            self._board.replicas_changed(project.id)
        log.warning("%s.%d of project %s crashed (%s); starting it again in %g s",
                    row.process, row.number, project.id, describe_exit(code, oom), delay)
        self._later(row.id, delay, self._start, True)

    def _start(self, replica_id: str, crash: bool) -> None:
        with self._lock:
            self._timers.pop(replica_id, None)
        loaded = self._loaded(replica_id)
        if loaded is None:
            return
        row, project = loaded
        try:
            state = self._runtime.inspect(replica_id)
            if state is None:
                self._replace_lost(row, project)
                return
            if not state.running:
                self._runtime.start(replica_id)
        except EngineError as exc:
            log.warning("could not start %s.%d of %s again: %s", row.process, row.number,
                        project.id, exc)
            return
        self._started(row, project, crash)

    def _started(self, row: ProcessReplica, project: Project, crash: bool) -> None:
        with Session(self._db) as session:
            found = session.get(ProcessReplica, row.id)
            if found is None:
                return
            found.running_since = utcnow()
            found.restarts += 1 if crash else 0
            session.add(found)
            session.commit()
        if crash:
            self._board.update_fields(project.id, restarts=project.restarts + 1)
        if row.process != WEB:
            return
        problem, address = self._runtime.wait_serving(row.id, self._health_timeout_s,
                                                      project.health_path)
        if problem is None and address is not None:
            self._formation.set_serving(row.id, address.port)
            self._board.replicas_changed(project.id)
            return
        state = self._runtime.inspect(row.id)
        self._record_crash(row, project, state.exit_code if state else None,
                           bool(state and state.oom_killed))

    def _replace_lost(self, row: ProcessReplica, project: Project) -> None:
        """Its container is gone: a fresh one of the same release, in its place."""
        self._formation.remove([row])
        target = self._formation.target(project)
        if target is None or target.version != row.release_version:
            return  # another release is current: the change that made it runs its own
        with Session(self._db) as session:
            user = session.get(User, project.user_id)
        if user is not None:
            self._formation.converge(project, owner_of(project, user), target,
                                     types=lambda process: process == row.process)
