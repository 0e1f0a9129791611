"""Keeping the projects that should run, running: the one owner of app restarts.

- An app that exits on its own while its project should run is started again after a
  backoff: 1 s, doubling with each crash in a row, at most 5 min; ten minutes up forgives
  the streak. While it waits the project reads `error`, saying what happened and when the
  next start is; `restarts` and `last_exit` keep the story.
- The engine going away is not the app failing: projects that should run read `error`
  ("the Docker engine is unavailable") while it is gone, and are started again at once,
  without a crash counted, when the reconciler finds their containers stopped.
- Every start looks at the database first: a user's stop, a deploy or a delete wins.

Containers keep the restart policy `no`: the engine never restarts them behind hostd.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session, select

from hostd.config import Settings
from hostd.control.lifecycle import Lifecycle
from hostd.control.replicas import ReplicaSupervisor
from hostd.control.runtime import EngineError, Runtime
from hostd.control.status import StatusBoard
from hostd.control.supervision import (
    ENGINE_UNAVAILABLE,
    GONE,
    backoff_s,
    crash_reason,
    describe_exit,
    streak_after_crash,
    supervised,
)
from hostd.store import formation
from hostd.store.models import Project, ProjectStatus, User, utcnow

log = logging.getLogger("hostd.supervisor")
# A die is looked at again this much later, with the engine asked whether it is still
# there. An engine shutting down signals its containers (a `kill` before the `die`) and
# answers for a second or more after they died (measured: die at 0.1 s, API gone at
# 1.2 s, after SIGTERM): a signalled container gets the longer wait.
CONFIRM_S = 0.5
CONFIRM_SIGNALLED_S = 5.0


class Supervisor:
    """Crash restarts on timers of their own; `start_soon` for the reconciler."""

    def __init__(self, settings: Settings, db: Engine, runtime: Runtime,
                 board: StatusBoard, lifecycle: Lifecycle) -> None:
        self._settings = settings
        self._db = db
        self._runtime = runtime
        self._board = board
        self._lifecycle = lifecycle
        self._lock = threading.Lock()
        self._timers: dict[str, threading.Timer] = {}
        self._starting: set[str] = set()
        self._closed = False
        # The formation's other replicas (web.2…, workers): restarted one by one.
        self.replicas = ReplicaSupervisor(runtime, db, board, lifecycle.formation,
                                          settings.health_timeout_s)

    # --- what the monitor, the reconciler and the daemon call -----------------------------

    def crashed(self, project_id: str, container_id: str, code: int | None, oom: bool, *,
                killed: bool = False) -> None:
        """The engine says the project's container died, and hostd did not stop it;
        `killed`: a signal was sent to it first (from outside, or by the engine)."""
        self._later(CONFIRM_SIGNALLED_S if killed else CONFIRM_S, self._confirm_crash,
                    project_id, container_id, code, oom)

    def start_soon(self, project_id: str) -> None:
        """Start the project's stopped (or lost) container now; not counted as a crash."""
        self._schedule(project_id, 0.0, crash=False)

    def engine_gone(self) -> None:
        """Pending starts are dropped (the reconciler starts what is down when the engine
        is back) and every project that should run says why it does not."""
        with self._lock:
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            timer.cancel()
        self.replicas.cancel_all()
        with Session(self._db) as session:
            projects = session.exec(select(Project)).all()
        for project in projects:
            self._unroute(project.id)  # first: once a project says so, it is not routed
            if supervised(project) and project.status_reason != ENGINE_UNAVAILABLE:
                self._board.set(project.id, ProjectStatus.error, ENGINE_UNAVAILABLE,
                                only_if=[ProjectStatus.running, ProjectStatus.error])

    def _unroute(self, project_id: str) -> None:
        """Its replicas leave the router's table, which answers the project's 503 page
        instead of a 502 from a port nobody listens on; the reconciler gates each one again
        when the engine is back."""
        with Session(self._db) as session:
            if not formation.stop_serving(session, project_id):
                return
            session.commit()
        self._board.replicas_changed(project_id)

    def close(self) -> None:
        self.replicas.close()
        with self._lock:
            self._closed = True
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            timer.cancel()

    # --- crashes ----------------------------------------------------------------------------

    def _confirm_crash(self, project_id: str, container_id: str, code: int | None,
                       oom: bool) -> None:
        if project_id in self._starting or not self._runtime.reachable():
            return  # a start under way sees its own exit; an engine going away is no crash
        project = self._project(project_id)
        if (project is None or project.container_id != container_id or not supervised(project)
                or project.status != ProjectStatus.running):
            return
        state = self._runtime.inspect(container_id)
        if state is not None and state.running:
            return  # started again meanwhile (the engine came back, and the reconciler ran)
        self._record_crash(project, code, oom, was=ProjectStatus.running)

    def _record_crash(self, project: Project, code: int | None, oom: bool,
                      was: ProjectStatus) -> float | None:
        """Say it crashed and schedule its next start; the wait, or None when its status
        had moved on (then nothing is scheduled)."""
        now = utcnow()
        streak = streak_after_crash(project, now)
        delay = backoff_s(streak)
        if self._board.set(project.id, ProjectStatus.error, crash_reason(streak, code, oom, delay),
                           only_if=[was], crash_streak=streak, running_since=None,
                           last_exit_code=code, last_exit_oom=oom, last_exit_at=now):
            log.warning("project %s crashed (%s); starting it again in %g s", project.id,
                        describe_exit(code, oom), delay)
            self._schedule(project.id, delay, crash=True)
            return delay
        return None

    # --- starts -----------------------------------------------------------------------------

    def _schedule(self, project_id: str, delay_s: float, *, crash: bool) -> None:
        with self._lock:
            if self._closed or project_id in self._starting:
                return
            previous = self._timers.pop(project_id, None)
            if previous is not None:
                previous.cancel()
            timer = threading.Timer(delay_s, self._attempt, (project_id, crash))
            timer.daemon = True
            self._timers[project_id] = timer
        timer.start()

    def _later(self, delay_s: float, function: Callable[..., None], *args: object) -> None:
        timer = threading.Timer(delay_s, function, args)
        timer.daemon = True
        timer.start()

    def _attempt(self, project_id: str, crash: bool) -> None:
        with self._lock:
            self._timers.pop(project_id, None)
            if self._closed or project_id in self._starting:
                return
            self._starting.add(project_id)
        again: float | None = None
        try:
            again = self._start(project_id, crash)
        except EngineError as exc:
            log.warning("could not start project %s again: %s", project_id, exc)
        finally:
            with self._lock:
                self._starting.discard(project_id)
        if again is not None:  # it crashed while starting: scheduled only now that the
            self._schedule(project_id, again, crash=True)  # start under way is over

    def _start(self, project_id: str, crash: bool) -> float | None:
        """Start it now; the wait before the next try when it crashed while starting."""
        loaded = self._project_and_owner(project_id)
        if loaded is None:
            return None
        project, owner = loaded
        if not supervised(project):
            return None  # stopped, deleted or redeployed meanwhile
        if self._lifecycle.formation.without_web(project):
            return None  # no web.1: its other replicas are the ReplicaSupervisor's
        runtime = self._runtime
        state = runtime.inspect(project.container_id) if project.container_id else None
        if state is None:
            if not (project.image and runtime.image_exists(project.image)):
                self._board.set(project.id, ProjectStatus.error, GONE, crash_streak=0,
                                only_if=[ProjectStatus(project.status)])
                return None
            log.info("project %s lost its container: recreating it from %s", project.id,
                     project.image)
            state = self._lifecycle.recreate(project, owner)
        elif state.running and project.status == ProjectStatus.running:
            return None  # its owner started it meanwhile
        elif not state.running:
            runtime.start(state.id)
        if crash:
            self._board.update_fields(project.id, restarts=project.restarts + 1)
        return self._await_serving(project, state.id)

    def _await_serving(self, project: Project, container_id: str) -> float | None:
        problem, address = self._runtime.wait_serving(
            container_id, self._settings.health_timeout_s, project.health_path)
        status = ProjectStatus(project.status)
        if problem is None and address is not None:
            self._board.set(project.id, ProjectStatus.running, None, host_port=address.port,
                            running_since=utcnow(), only_if=[status])
            return None
        after = self._project(project.id)
        if after is None or not supervised(after) or after.status != status:
            return None  # stopped or redeployed while it came up
        state = self._runtime.inspect(container_id)
        return self._record_crash(after, state.exit_code if state else None,
                                  bool(state and state.oom_killed), was=status)

    # --- reading ----------------------------------------------------------------------------

    def _project(self, project_id: str) -> Project | None:
        with Session(self._db) as session:
            return session.get(Project, project_id)

    def _project_and_owner(self, project_id: str) -> tuple[Project, User] | None:
        with Session(self._db) as session:
            project = session.get(Project, project_id)
            owner = session.get(User, project.user_id) if project else None
        return (project, owner) if project and owner else None
