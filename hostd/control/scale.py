"""Scaling a project: `PATCH /api/projects/:id/formation` (`hostctl scale NAME web=3`), and
what `GET …/processes` (`hostctl ps NAME`) shows of each replica.

A change names only the types it changes, each a type of the current release, 0–20 (0
stops a type; web at 0 leaves the app without a route: hostd.control.web_switch). It is
stored, and when the project runs it is applied before the answer
(hostd.control.formation: new web replicas health-gated before they serve, extra ones
drained): the answer comes once the replicas run, or, when a new one
never serves, with a 409 and the formation as it was, the replicas serving before serving
on. A project that does not run keeps the change for its next start. The memory quota
counts every replica (hostd.control.quota.Quota.scaling).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sqlmodel import Session

from hostd.control.changes import ChangeLocks
from hostd.control.formation import Formation, FormationFailed, owner_of
from hostd.control.quota import Quota
from hostd.control.runtime import EngineError, Replica, Runtime, Usage
from hostd.control.supervision import supervised
from hostd.control.web_switch import WebSwitch
from hostd.errors import Conflict
from hostd.store import formation
from hostd.store.models import Project, ProjectStatus, User, as_utc, utcnow
from hostd.store.models.processes import FormationResponse, ProcessPublic, ProcessReplica

USAGE_GAP_S = 0.25  # between the two CPU readings a rate is made of
USAGE_DEADLINE_S = 2.0


class Scaler:
    def __init__(self, db_formation: Formation, runtime: Runtime, quota: Quota,
                 changes: ChangeLocks, is_deploying: Callable[[str], bool],
                 web: WebSwitch) -> None:
        self._formation = db_formation
        self._web = web
        self._runtime = runtime
        self._quota = quota
        self._changes = changes
        self._is_deploying = is_deploying

    def scale(self, session: Session, project: Project, owner: User,
              body: Mapping[str, object]) -> str:
        with self._changes.of(project.id):
            session.refresh(project)
            if project.status == ProjectStatus.deploying or self._is_deploying(project.id):
                # Its switch would retire what a scale started now: once it is done.
                raise Conflict(f"Project {project.name} is deploying: scale it once it is "
                               "done")
            processes = formation.current_types(session, project)
            changes = formation.check_change(body, formation.types_of(processes))
            before = project.formation_json
            after = {**formation.effective(project, processes), **changes}
            if not (supervised(project) and project.status == ProjectStatus.running):
                formation.store(project, changes)
                session.commit()
                return f"{project.name} runs {_shown(after)} from its next start"
            with self._quota.scaling(owner.id, project.id, project.name, sum(after.values())):
                formation.store(project, changes)
                session.add(project)
                session.commit()
                return self._apply(session, project, owner, before, after)

    def _apply(self, session: Session, project: Project, owner: User, before: str,
               after: dict[str, int]) -> str:
        target = self._formation.target(project)
        if target is None:
            return f"{project.name} runs {_shown(after)} from its next deploy"
        web_back = target.has_web and not project.container_id  # from web=0
        try:
            if web_back:
                self._web.on(project, owner_of(project, owner), target)
            self._formation.converge(project, owner_of(project, owner), target)
        except (FormationFailed, EngineError) as exc:
            project.formation_json = before
            session.add(project)
            session.commit()
            if web_back:  # web.1 came up, a web.2… did not: web is 0 again
                session.refresh(project)
                if project.container_id:
                    self._web.off(project)
            raise Conflict(f"scaling {project.name} failed: {exc}; its formation is "
                           "as it was") from None
        session.refresh(project)
        if target.web_off and project.container_id:  # web=0: web.1 goes last
            self._web.off(project)
        return f"{project.name} runs {_shown(after)}"

    # --- what runs ------------------------------------------------------------------------

    def response(self, session: Session, project: Project,
                 message: str | None = None) -> FormationResponse:
        session.refresh(project)
        processes = formation.current_types(session, project)
        return FormationResponse(formation=formation.effective(project, processes),
                                 processes=self.processes(session, project), message=message)

    def processes(self, session: Session, project: Project) -> list[ProcessPublic]:
        rows = formation.rows(session, project.id)
        if not rows:
            return []
        try:
            states = {r.id: r for r in self._runtime.replicas(project.id)}
            usage = self._usage({row.id for row in rows if row.id in states})
        except EngineError:  # the engine is away: what the database knows
            states, usage = {}, {}
        web1_restarts = max(0, project.restarts - formation.others_restarts(session, project))
        return [_public(row, states.get(row.id), usage.get(row.id),
                        web1_restarts if row.id == project.container_id else row.restarts)
                for row in rows]

    def _usage(self, ids: set[str]) -> dict[str, tuple[float | None, float]]:
        """(CPU percent of one core, memory MB) per replica, from two readings."""
        if not ids:
            return {}
        first = self._runtime.usage(ids, USAGE_DEADLINE_S)
        time.sleep(USAGE_GAP_S)
        second = self._runtime.usage(ids, USAGE_DEADLINE_S)
        return {rid: (_cpu(first.get(rid), now), now.memory_bytes / 2**20)
                for rid, now in second.items()}


def _cpu(before: Usage | None, after: Usage) -> float | None:
    if before is None or after.at_ns <= before.at_ns:
        return None
    return round(max(0, after.cpu_ns - before.cpu_ns) * 100 / (after.at_ns - before.at_ns), 1)


def _public(row: ProcessReplica, state: Replica | None,
            usage: tuple[float | None, float] | None, restarts: int) -> ProcessPublic:
    if state is None:
        shown = "gone"
    elif state.running:
        shown = "running"
    else:
        shown = "crashed" if row.crash_streak else "stopped"
    since = as_utc(state.started_at) if state is not None and state.running \
        and state.started_at else None
    return ProcessPublic(
        name=f"{row.process}.{row.number}", type=row.process, number=row.number,
        state=shown, restarts=restarts, release=row.release_version, serving=row.serving,
        running_since=since,
        uptime_s=round((utcnow() - since).total_seconds(), 1) if since else None,
        cpu=usage[0] if usage else None, memory=round(usage[1], 1) if usage else None,
        last_exit_code=row.last_exit_code)


def _shown(quantities: Mapping[str, int]) -> str:
    return " ".join(f"{name}={n}" for name, n in quantities.items())
