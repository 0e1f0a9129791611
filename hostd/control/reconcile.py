"""Make the database and the engine agree, at start-up and after an engine outage.

- deploys cut short by a daemon stop end in `error` ("interrupted");
- a `running` project whose container is gone is recreated from its image, else `error`;
- a `running` project whose container has exited is `error` with the exit code;
- a `stopped` or `error` project whose container runs is stopped;
- containers of this daemon instance that are no project's current one are removed,
  and so are images of projects that no longer exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from hostd.control.deployer import Deployer
from hostd.control.lifecycle import ExpectedExits, Lifecycle
from hostd.control.status import StatusBoard
from hostd.engine import containers as engine
from hostd.engine.client import EngineError
from hostd.engine.handle import DockerHandle
from hostd.engine.health import exit_reason
from hostd.engine.naming import INSTANCE_LABEL, PROJECT_LABEL
from hostd.engine.project_images import instance_images
from hostd.store.models import Deployment, DeploymentStatus, Project, ProjectStatus, User, utcnow

log = logging.getLogger("hostd.reconcile")
INTERRUPTED = "interrupted: hostd stopped during the deploy; deploy again"


@dataclass(frozen=True)
class Reconciler:
    db: Engine
    docker: DockerHandle
    instance: str  # this daemon's containers and images carry its label
    board: StatusBoard
    expected: ExpectedExits
    deployer: Deployer  # projects it is deploying are left to it
    lifecycle: Lifecycle  # brings a lost container back

    def mark_interrupted(self) -> None:
        """Work that was running when the daemon stopped cannot be running now."""
        with Session(self.db) as session:
            session.exec(update(Deployment)
                         .where(col(Deployment.status) == DeploymentStatus.running)
                         .values(status=DeploymentStatus.interrupted, reason=INTERRUPTED,
                                 finished_at=utcnow()))
            session.commit()
            stuck = session.exec(select(Project.id).where(
                Project.status == ProjectStatus.deploying)).all()
        for project_id in stuck:
            if not self.deployer.is_deploying(project_id):
                self.board.set(project_id, ProjectStatus.error, INTERRUPTED,
                               only_if=[ProjectStatus.deploying])

    def reconcile(self) -> None:
        client = self.docker.client()
        states = engine.list_labelled_containers(client, INSTANCE_LABEL, self.instance)
        with Session(self.db) as session:
            rows = session.exec(select(Project, User).join(User)).all()
        current = {project.container_id for project, _ in rows if project.container_id}
        known = {project.id for project, _ in rows}
        busy = {pid for pid in known if self.deployer.is_deploying(pid)}
        by_id = {state.id: state for state in states}
        for project, owner in rows:
            if project.id in busy:
                continue
            try:
                self._reconcile_project(project, owner, by_id.get(project.container_id or ""))
            except EngineError as exc:
                log.warning("could not reconcile project %s: %s", project.id, exc)
        for state in states:
            # Not the current container of any project: a deleted project's, or one left
            # behind by a deploy that was cut short.
            if state.id not in current and state.labels.get(PROJECT_LABEL) not in busy:
                log.info("removing orphan container %s", state.name)
                engine.remove_container(client, state.id, force=True)
        for project_id, refs in instance_images(client, self.instance).items():
            if project_id not in known:
                for ref in refs:
                    engine.remove_image(client, ref, force=True)

    def _reconcile_project(self, project: Project, owner: User,
                           state: engine.ContainerState | None) -> None:
        if project.status == ProjectStatus.running:
            if state is None:
                self._recover_missing(project, owner)
            elif not state.running and state.status != "restarting":
                self.board.set(project.id, ProjectStatus.error,
                               exit_reason(state.exit_code, state.oom_killed),
                               only_if=[ProjectStatus.running])
            elif state.host_port != project.host_port:
                self.board.update_fields(project.id, host_port=state.host_port)
        elif state is not None and state.running:
            # stopped, or error (e.g. an interrupted deploy): nothing of it should run.
            self.expected.expect(state.id)
            engine.stop_container(self.docker.client(), state.id)

    def _recover_missing(self, project: Project, owner: User) -> None:
        client = self.docker.client()
        if project.image and engine.image_exists(client, project.image):
            log.info("project %s lost its container: recreating it from %s", project.id,
                     project.image)
            self.lifecycle.bring_back(project, owner)
            return
        self.board.set(project.id, ProjectStatus.error,
                       "the container and its image are gone: deploy again",
                       only_if=[ProjectStatus.running])
