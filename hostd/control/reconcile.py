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

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from hostd.control.lifecycle import Lifecycle
from hostd.engine import containers as engine
from hostd.engine.client import EngineError
from hostd.engine.health import exit_reason
from hostd.engine.naming import INSTANCE_LABEL, PROJECT_LABEL
from hostd.engine.project_images import instance_images
from hostd.store.models import Deployment, DeploymentStatus, Project, ProjectStatus, User, utcnow

log = logging.getLogger("hostd.reconcile")
INTERRUPTED = "interrupted: hostd stopped during the deploy; deploy again"


def mark_interrupted(db: Engine, lifecycle: Lifecycle) -> None:
    """Work that was running when the daemon stopped cannot be running now."""
    with Session(db) as session:
        session.exec(update(Deployment)
                     .where(col(Deployment.status) == DeploymentStatus.running)
                     .values(status=DeploymentStatus.interrupted, reason=INTERRUPTED,
                             finished_at=utcnow()))
        session.commit()
        stuck = session.exec(select(Project.id).where(
            Project.status == ProjectStatus.deploying)).all()
    for project_id in stuck:
        if not lifecycle.deployer.is_deploying(project_id):
            lifecycle.board.set(project_id, ProjectStatus.error, INTERRUPTED,
                                only_if=[ProjectStatus.deploying])


def reconcile(db: Engine, lifecycle: Lifecycle) -> None:
    client = lifecycle.docker.client()
    instance = lifecycle.settings.instance
    states = engine.list_labelled_containers(client, INSTANCE_LABEL, instance)
    with Session(db) as session:
        rows = session.exec(select(Project, User).join(User)).all()
    current = {project.container_id for project, _ in rows if project.container_id}
    known = {project.id for project, _ in rows}
    busy = {pid for pid in known if lifecycle.deployer.is_deploying(pid)}
    by_id = {state.id: state for state in states}
    for project, owner in rows:
        if project.id in busy:
            continue
        try:
            _reconcile_project(lifecycle, project, owner, by_id.get(project.container_id or ""))
        except EngineError as exc:
            log.warning("could not reconcile project %s: %s", project.id, exc)
    for state in states:
        # Not the current container of any project: a deleted project's, or one left
        # behind by a deploy that was cut short.
        if state.id not in current and state.labels.get(PROJECT_LABEL) not in busy:
            log.info("removing orphan container %s", state.name)
            engine.remove_container(client, state.id, force=True)
    for project_id, refs in instance_images(client, instance).items():
        if project_id not in known:
            for ref in refs:
                engine.remove_image(client, ref, force=True)


def _reconcile_project(lifecycle: Lifecycle, project: Project, owner: User,
                       state: engine.ContainerState | None) -> None:
    board = lifecycle.board
    if project.status == ProjectStatus.running:
        if state is None:
            _recover_missing(lifecycle, project, owner)
        elif not state.running and state.status != "restarting":
            board.set(project.id, ProjectStatus.error,
                      exit_reason(state.exit_code, state.oom_killed),
                      only_if=[ProjectStatus.running])
        elif state.host_port != project.host_port:
            board.update_fields(project.id, host_port=state.host_port)
    elif state is not None and state.running:
        # stopped, or error (e.g. an interrupted deploy): nothing of it should run.
        lifecycle.expected.expect(state.id)
        engine.stop_container(lifecycle.docker.client(), state.id)


def _recover_missing(lifecycle: Lifecycle, project: Project, owner: User) -> None:
    client = lifecycle.docker.client()
    if project.image and engine.image_exists(client, project.image):
        log.info("project %s lost its container: recreating it from %s", project.id,
                 project.image)
        lifecycle.bring_back(project, owner)
        return
    lifecycle.board.set(project.id, ProjectStatus.error,
                        "the container and its image are gone: deploy again",
                        only_if=[ProjectStatus.running])
