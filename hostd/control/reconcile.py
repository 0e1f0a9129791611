"""Make the database and the engine agree, at start-up and after an engine outage.

- deploys cut short by a daemon stop end in `error` ("interrupted");
- a project that should run (hostd.control.supervisor.supervised) and whose container
  runs reads `running`; one whose container stopped (the engine or hostd was away) or is
  gone is handed to the supervisor, which starts or recreates it at once;
- a container runs that should not (stopped by its owner, or a failed deploy's): stopped;
- the build network, when no build holds it (a crash left it);
- containers labelled with this daemon's instance that are no project's current one,
  and images of projects it deleted, are removed, but only those this install's database
  says it made (hostd.control.ownership): another install with the same label keeps its
  apps. Each removal is logged with its reason.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from hostd.control.deployer import Deployer
from hostd.control.exits import ExpectedExits
from hostd.control.oneoff import RUN_OF_LABEL, OneOffs
from hostd.control.ownership import Action, Ownership, load_ownership
from hostd.control.process_steps import no_web_reason
from hostd.control.runtime import WEB, EngineError, EngineUnavailable, Replica, Runtime
from hostd.control.status import StatusBoard
from hostd.control.supervision import supervised
from hostd.control.supervisor import Supervisor
from hostd.naming import INSTANCE_LABEL, PROJECT_LABEL
from hostd.store import formation
from hostd.store.models import (
    Deployment,
    DeploymentStatus,
    DeployOutcome,
    Project,
    ProjectStatus,
    User,
    utcnow,
)

log = logging.getLogger("hostd.reconcile")
INTERRUPTED = "interrupted: hostd stopped during the deploy; deploy again"
# What a deploy cut short leaves on its project: no step, and how it ended.
BUILD_NETWORK_TRIES, BUILD_NETWORK_RETRY_S = 30, 1.0  # bounded: half a minute
INTERRUPTED_FIELDS = {"deploy_step": None, "last_deploy_status": DeployOutcome.interrupted,
                      "last_deploy_reason": INTERRUPTED}


@dataclass(frozen=True)
class Reconciler:
    db: Engine
    runtime: Runtime
    instance: str  # this daemon's containers and images carry its label
    board: StatusBoard
    expected: ExpectedExits
    deployer: Deployer  # projects it is deploying are left to it
    supervisor: Supervisor  # starts what should run and does not
    oneoffs: OneOffs | None = None  # the one-off commands running now

    def mark_interrupted(self) -> None:
        """Work that was running when the daemon stopped cannot be running now."""
        with Session(self.db) as session:
            cut_short = set(session.exec(select(Deployment.project_id).where(
                col(Deployment.status) == DeploymentStatus.running)).all())
            session.exec(update(Deployment)
                         .where(col(Deployment.status) == DeploymentStatus.running)
                         .values(status=DeploymentStatus.interrupted, reason=INTERRUPTED,
                                 finished_at=utcnow()))
            session.commit()
            stuck = session.exec(select(Project).where(
                Project.status == ProjectStatus.deploying)).all()
        for project_id in cut_short | {project.id for project in stuck}:
            if not self.deployer.is_deploying(project_id):
                self.board.update_fields(project_id, **INTERRUPTED_FIELDS)
        for project in stuck:
            if self.deployer.is_deploying(project.id):
                continue
            if project.container_id and project.host_port is not None:
                # A redeploy of a project that was serving: its current container is the
                # release that was serving (the reconciler checks it runs, or starts it).
                self.board.set(project.id, ProjectStatus.running,
                               f"the last deploy was {INTERRUPTED}",
                               only_if=[ProjectStatus.deploying])
            else:
                self.board.set(project.id, ProjectStatus.error, INTERRUPTED,
                               only_if=[ProjectStatus.deploying])
        self._say_redeploys_interrupted(cut_short - {project.id for project in stuck})

    def _say_redeploys_interrupted(self, project_ids: set[str]) -> None:
        """A redeploy of a serving project left it `running` on its old release: its
        reason named the step the deploy was in."""
        for project_id in project_ids:
            if not self.deployer.is_deploying(project_id):
                self.board.set(project_id, ProjectStatus.running,
                               f"the last deploy was {INTERRUPTED}",
                               only_if=[ProjectStatus.running])

    def reconcile(self) -> None:
        runtime = self.runtime
        states = runtime.replicas()
        with Session(self.db) as session:
            rows = session.exec(select(Project, User).join(User)).all()
        busy = frozenset(p.id for p, _ in rows if self.deployer.is_deploying(p.id))
        # After a reboot, before a container of theirs starts.
        runtime.mount_data({project.id for project, _ in rows})
        by_id = {state.id: state for state in states}
        for project, owner in rows:
            if project.id in busy:
                continue
            try:
                self._reconcile_project(project, owner, by_id.get(project.container_id or ""))
                self._reconcile_replicas(project, by_id)
            except EngineUnavailable:
                raise  # the monitor reconciles again when the engine is back
            except EngineError as exc:
                log.warning("could not reconcile project %s: %s", project.id, exc)
        runs = [state for state in states if RUN_OF_LABEL in state.labels]
        self._remove_finished_runs(runs)
        apps = [state for state in states if RUN_OF_LABEL not in state.labels]
        own = load_ownership(self.db, busy)
        self._remove_strays(apps, own)
        # Left when a user's last delete found a draining container still on it.
        runtime.remove_unused_networks({owner.id for _, owner in rows})
        # Left by a crash mid-build, or by a removal the engine refused: no build here
        # holds it, so it goes (the next build makes it again).
        if not runtime.remove_unused_build_network():
            self._remove_build_network_later(BUILD_NETWORK_TRIES)
        self._remove_deleted_data(own)

    def _remove_build_network_later(self, tries: int) -> None:
        """A crash mid-build leaves the build's container on the network until the engine
        notices its client went and kills it (a second or so): tried again, bounded."""
        def again() -> None:
            try:
                gone = self.runtime.remove_unused_build_network()
            except EngineError:
                gone = False  # the engine went away: the next reconcile tries
            if not gone and tries > 1:
                self._remove_build_network_later(tries - 1)
        timer = threading.Timer(BUILD_NETWORK_RETRY_S, again)
        timer.daemon = True
        timer.start()

    def _remove_finished_runs(self, runs: list[Replica]) -> None:
        """One-off containers no run of this daemon follows (it stopped mid-run)."""
        active = self.oneoffs.active() if self.oneoffs is not None else set()
        for state in runs:
            if state.id not in active:
                log.info("removing one-off container %s: no run follows it", state.name)
                self.runtime.remove(state.id)

    def _remove_deleted_data(self, own: Ownership) -> None:
        """The /data volumes of projects this install deleted (still in use then); never
        one it can't tell is its own (another install's with the same label)."""
        for project_id in sorted(self.runtime.data_owners()):
            verdict = own.image(project_id)  # the same rule as its images'
            if verdict.action is not Action.remove:
                continue
            log.info("removing the data volume of project %s: %s", project_id, verdict.reason)
            with contextlib.suppress(EngineError):  # still in use: next time
                self.runtime.remove_data(project_id)

    def _remove_strays(self, states: list[Replica], own: Ownership) -> None:
        """Remove the containers and images this install made that nothing needs (a
        deleted project's, or one left by a deploy cut short), each logged with why;
        another install's that carry the same label are left alone."""
        foreign: list[str] = []  # the projects named by what is left alone
        for state in states:
            verdict = own.container(state.id, state.labels)
            if verdict.action is Action.remove:
                log.info("removing container %s (%s): %s", state.name, state.id[:12],
                         verdict.reason)
                self.runtime.remove(state.id)
            elif verdict.action is Action.foreign:
                foreign.append(state.labels.get(PROJECT_LABEL) or "(none)")
        for project_id, refs in self.runtime.instance_images().items():
            verdict = own.image(project_id)
            for ref in refs:
                if verdict.action is Action.remove:
                    log.info("removing image %s: %s", ref, verdict.reason)
                    self.runtime.remove_image(ref, force=True)
                elif verdict.action is Action.foreign:
                    foreign.append(project_id)
        if foreign:
            log.warning("leaving %d containers and images labelled %s=%s alone: their "
                        "projects (%s) are not in this install's database (another install "
                        "with the same label?)", len(foreign), INSTANCE_LABEL, self.instance,
                        ", ".join(sorted(set(foreign))[:10]))

    def _reconcile_replicas(self, project: Project, by_id: dict[str, Replica]) -> None:
        """The formation's other replicas (web.2…, workers): each one down is started
        again when the project should run, each one up is stopped when it should not."""
        with Session(self.db) as session:
            every = formation.rows(session, project.id)
        rows = [row for row in every if row.id != project.container_id]
        if project.container_id and len(rows) == len(every):  # made before rows were kept
            self.board.update_fields(project.id, container_id=project.container_id)
        wanted = supervised(project)
        for row in rows:
            state = by_id.get(row.id)
            # A web replica that ran through an outage serves again once it answers.
            ungated = row.process == WEB and not row.serving and row.release_version is not None
            if wanted and (state is None or not state.running or ungated):
                self.supervisor.replicas.start_soon(row.id)
            elif not wanted and state is not None and state.running:
                self.expected.expect(state.id)
                self.runtime.stop(state.id)

    def _without_web(self, project: Project) -> bool:
        with Session(self.db) as session:
            processes = formation.current_types(session, project)
        return project.release_version is not None and not formation.runs_web(project,
                                                                               processes)

    def _has_web_type(self, project: Project) -> bool:
        with Session(self.db) as session:
            return WEB in formation.types_of(formation.current_types(session, project))

    def _reconcile_project(self, project: Project, owner: User,
                           state: Replica | None) -> None:
        if not supervised(project):
            if state is not None and state.running:
                self.expected.expect(state.id)
                self.runtime.stop(state.id)
            return
        if project.container_id is None and self._without_web(project):
            if project.status != ProjectStatus.running:  # back after an engine outage
                self.board.set(project.id, ProjectStatus.running,
                               no_web_reason(project.name, self._has_web_type(project)),
                               only_if=[ProjectStatus(project.status)])
            return  # a release without web: only its other replicas run
        if state is None or not state.running:
            self.supervisor.start_soon(project.id)
            return
        # Made by an older hostd, it may carry an engine restart policy or sit on the
        # shared network: adopted, it follows today's rules (its port may move).
        state = self.runtime.adopt(state.id, owner.id) or state
        if project.status != ProjectStatus.running:
            self.board.set(project.id, ProjectStatus.running, None, host_port=state.host_port,
                           running_since=state.started_at or utcnow(),
                           only_if=[ProjectStatus(project.status)])
        elif state.host_port != project.host_port:
            self.board.update_fields(project.id, host_port=state.host_port)
