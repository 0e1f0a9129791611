"""Create, deploy, start, stop, restart, reconfigure and delete a project and its container.

The database says what the user wants; these functions make the engine agree and
write the outcome through the StatusBoard. Stops that hostd itself causes are
announced to the engine monitor first, so they are never mistaken for crashes.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from hostd.config import Settings
from hostd.control import buildlog, stages, upload
from hostd.control.appcontainer import (
    drop_data,
    drop_network_if_unused,
    remove_project_containers,
    run_app_container,
)
from hostd.control.changes import ChangeLocks
from hostd.control.deployer import Deployer
from hostd.control.exits import ExpectedExits
from hostd.control.fairqueue import Reservation
from hostd.control.formation import Formation, made_with_other_env, owner_of
from hostd.control.job import DELETED, SUPERSEDED
from hostd.control.process_steps import no_web_reason
from hostd.control.quota import Quota
from hostd.control.replace import Replacer
from hostd.control.retire import Retirer
from hostd.control.runtime import (
    WEB,
    ContainerMissing,
    EngineError,
    EngineUnavailable,
    Replica,
    Runtime,
)
from hostd.control.scale import Scaler
from hostd.control.status import StatusBoard
from hostd.control.supervision import supervised
from hostd.control.web_switch import WebSwitch
from hostd.errors import Conflict, NotFound
from hostd.naming import container_name, labels_for
from hostd.store import configvars, formation, projects, releases
from hostd.store.models import (
    DeletedProject,
    Deployment,
    DesiredStatus,
    Project,
    ProjectCreate,
    ProjectSource,
    ProjectStatus,
    Release,
    User,
    new_id,
    utcnow,
)

log = logging.getLogger("hostd.lifecycle")


class Lifecycle:
    """What a project's owner asks of it: create, deploy, start, stop, restart, config
    vars, delete; and a new container from the current image (for the supervisor)."""

    def __init__(self, settings: Settings, db: Engine, runtime: Runtime,
                 board: StatusBoard, deployer: Deployer, expected: ExpectedExits,
                 retirer: Retirer, changes: ChangeLocks) -> None:
        self._settings = settings
        self._db = db
        self._runtime = runtime
        self._board = board
        self._deployer = deployer
        self._expected = expected
        self._replacer = Replacer(settings, runtime, board, retirer, changes)
        self.formation = Formation(settings, db, runtime, board, retirer)
        self._quota = Quota(settings, db)
        self.scaler = Scaler(self.formation, runtime, self._quota, changes,
                             deployer.is_deploying, WebSwitch(settings, runtime, board, retirer))

    def _require_engine(self) -> None:
        """A start needs the engine now: without it, a 503 rather than a redeploy queued
        to fail."""
        if not self._runtime.reachable():
            raise EngineUnavailable("the engine does not answer; "
                                    "start the project again once it is back")

    def _refuse_while_deploying(self, project: Project) -> None:
        if project.status == ProjectStatus.deploying or self._deployer.is_deploying(project.id):
            raise Conflict(f"Project {project.name} is deploying: wait until it is done")

    def create(self, session: Session, owner: User, body: ProjectCreate) -> Project:
        """Store the project and queue its first deploy. The queue slot is reserved
        first, so a full queue (429) stores nothing; so does a quota (403)."""
        settings = self._settings
        with self._deployer.reserve(owner.id) as slot:
            with self._quota.creating(owner.id) as project_id:
                project = projects.create(session, owner, body,
                                          allow_local=settings.allow_local_repos,
                                          allow_private=settings.allow_private_repos,
                                          local_root=settings.local_repos_root,
                                          project_id=project_id)
            if body.source is None:  # an upload project deploys at its first upload
                self.deploy(session, project, owner, slot)
        return project

    def deploy(self, session: Session, project: Project, owner: User,
               slot: Reservation | None = None) -> Deployment:
        """The one way a deploy starts (create, redeploy, a start or restart that needs an
        image): a deploy of the project already under way (or waiting) is superseded.
        Without `slot` one is reserved first, so a full queue (429) leaves the running
        deploy alone. A deploy means "run this": the memory quota (403) applies."""
        if project.source == ProjectSource.upload and project.upload_digest is None:
            raise Conflict(f"{project.name} has no source yet: upload it with hostctl up")
        with self._quota.starting(owner.id, project.id, project.name), \
                slot or self._deployer.reserve(owner.id, replacing=project.id) as held:
            if self._deployer.is_deploying(project.id):
                self._deployer.cancel(project.id, SUPERSEDED)
            return self._deployer.submit(session, project, owner, held)

    def deploy_upload(self, session: Session, project: Project, owner: User,
                      staged: Path, digest: str) -> Deployment:
        """Make the checked archive at `staged` the project's source and deploy it. The
        queue slot comes first: a full queue (429) keeps the previous source."""
        with self._deployer.reserve(owner.id, replacing=project.id) as slot:
            staged.replace(upload.archive_path(self._settings.data_dir, project.id))
            project.upload_digest = digest
            session.add(project)
            session.commit()
            return self.deploy(session, project, owner, slot)

    def _redeploy(self, session: Session, project: Project, owner: User) -> str:
        self.deploy(session, project, owner)
        return f"Redeploying {project.name}"

    def start(self, session: Session, project: Project, owner: User) -> str:
        self._refuse_while_deploying(project)
        with self._quota.starting(owner.id, project.id, project.name):
            return self._start(session, project, owner)

    def _start(self, session: Session, project: Project, owner: User) -> str:
        self._require_engine()  # after the quota: a refusal needs no engine to be told
        target = self.formation.target(project)
        if target is not None and not target.has_web \
                and self._runtime.image_exists(target.image):
            if project.container_id:  # web was scaled to 0 while it was stopped
                self._expected.expect(project.container_id)
                with contextlib.suppress(EngineError):  # gone already
                    self._runtime.remove(project.container_id)
            self.formation.bring_back(project, owner_of(project, owner), target)
            self._board.set(project.id, ProjectStatus.running,
                            no_web_reason(project.name, target.has_web_type),
                            desired_status=DesiredStatus.running, crash_streak=0,
                            running_since=utcnow(), container_id=None, host_port=None)
            return f"Started {project.name}"
        done = self._start_web(session, project, owner)
        if target is not None and not done.startswith("Redeploying"):
            self.formation.bring_back(project, owner_of(project, owner), target)
        return done

    def _start_web(self, session: Session, project: Project, owner: User) -> str:
        runtime = self._runtime
        state = runtime.inspect(project.container_id) if project.container_id else None
        if state is None and not (project.image and runtime.image_exists(project.image)):
            return self._redeploy(session, project, owner)
        env = configvars.load(session, project.id)
        if state is not None and made_with_other_env(state, env):
            self._discard(project)
            state = None
        if state is None:
            assert project.image is not None
            state = self.recreate(project, owner, env)
        elif not state.running:
            runtime.start(state.id)
        return self._await_running(project, state.id, f"Started {project.name}")

    def stop(self, project: Project) -> str:
        self._refuse_while_deploying(project)
        if project.container_id:
            self._expected.expect(project.container_id)
            try:
                self._runtime.stop(project.container_id)
            except ContainerMissing:
                log.info("project %s had no container to stop", project.id)
        self.formation.stop_all(project.id, keep=project.container_id)
        # Only once the engine has agreed: a stop answered with 503 (engine unreachable)
        # must leave the project as it was, or reconciliation would never restart it.
        # The owner's stop ends any crash-restart cycle (hostd.control.supervisor).
        self._board.set(project.id, ProjectStatus.stopped, None,
                        desired_status=DesiredStatus.stopped, crash_streak=0, running_since=None)
        return f"Stopped {project.name}"

    def restart(self, session: Session, project: Project, owner: User) -> str:
        self._refuse_while_deploying(project)
        if project.status == ProjectStatus.error and not supervised(project):
            return self._redeploy(session, project, owner)  # a failed deploy: build again
        if project.status == ProjectStatus.error:
            return self.start(session, project, owner)  # waiting out a crash: start it now
        if project.status == ProjectStatus.stopped or not project.image \
                or not (project.container_id or self.formation.without_web(project)):
            return self.start(session, project, owner)
        # Running: a fresh container of the same image and config, traffic switched to it;
        # the other replicas are made again.
        if project.container_id:
            self._replacer.replace(project, owner, configvars.load(session, project.id),
                                   "restart")
        session.refresh(project)
        self.formation.remove_all(project.id, keep=project.container_id)
        self._roll_processes(session, project, owner)
        return f"Restarted {project.name}"

    def delete(self, session: Session, project: Project) -> str:
        """Stop its deploys, remove the container, the images and the build logs, then
        the record."""
        self._deployer.cancel(project.id, DELETED)
        if project.container_id or project.image or self._deployer.is_deploying(project.id):
            if project.container_id:
                self._expected.expect(project.container_id)
            remove_project_containers(self._runtime, project.id)
            for ref in self._runtime.project_images(project.id):
                self._runtime.remove_image(ref, force=True)
        build_dir = buildlog.project_dir(self._settings.data_dir, project.id)
        if stages.read(build_dir):  # no engine call for a project that never built
            stages.remove_all_but(self._runtime, build_dir, keep=())
        shutil.rmtree(build_dir, ignore_errors=True)
        shutil.rmtree(upload.sources_dir(self._settings.data_dir, project.id),
                      ignore_errors=True)
        # Remembered: a container a deploy still makes is this install's to remove.
        session.merge(DeletedProject(project_id=project.id))
        session.delete(project)
        session.commit()
        log.info("project %s deleted with its container and images", project.id)
        drop_data(self._runtime, project.id)
        drop_network_if_unused(session, self._runtime, project.user_id)
        return f"Project {project.name} deleted"

    def recreate(self, project: Project, owner: User,
                 env: dict[str, str] | None = None) -> Replica:
        """A new container from the project's current image (its old one is gone), with
        `env` or else the config vars stored for it."""
        assert project.image is not None
        labels = labels_for(self._settings.instance_label, project.id, owner.id, "recreated")
        if env is None:
            with Session(self._db) as session:
                env = configvars.load(session, project.id)
        replica = run_app_container(self._runtime, self._settings, project.image,
                                    container_name(project.name, owner.handle, new_id()),
                                    labels, env)
        self._board.update_fields(project.id, container_id=replica.id,
                                  host_port=replica.host_port)
        return replica

    def set_env(self, session: Session, project: Project, owner: User,
                changes: dict[str, str | None]) -> tuple[dict[str, str], str]:
        """Change the config vars; a running project is recreated with them at once."""
        self._refuse_while_deploying(project)
        with self._replacer.changing(project.id):
            session.refresh(project)  # a change that held the lock before may have moved it on
            before = configvars.load(session, project.id)
            after = configvars.check(changes, before)
            done = configvars.summary(changes, before)
            if after == before:
                return after, f"Nothing changed: {done}"
            return after, self._change_env(session, project, owner, changes, before, after,
                                           done)

    def _change_env(self, session: Session, project: Project, owner: User,
                    changes: dict[str, str | None], before: dict[str, str],
                    after: dict[str, str], done: str) -> str:
        running = project.status == ProjectStatus.running and \
            (project.container_id or self.formation.without_web(project))
        if running and project.image and project.container_id:
            # Switched to a container made with them; if it never serves, nothing changes.
            self._replacer.replace(project, owner, after, "env")
        configvars.store(session, project.id, after)
        if project.image:
            session.refresh(project)
            current = self._current_release(session, project)
            releases.record(session, project, image=project.image, env=after,
                            commit=current.commit if current else None,
                            cause=releases.env_cause(changes, before), user_id=owner.id,
                            processes=releases.processes_of(current) if current else {})
        session.commit()
        if running and project.image:
            self._roll_processes(session, project, owner)
            return f"{done.capitalize()}; {project.name} restarted with them"
        return f"{done.capitalize()}; {project.name} gets them when it next starts"

    def rollback(self, session: Session, project: Project, owner: User,
                 version: int | None) -> tuple[Release, str]:
        """A new release with vN's image and config vars (the one before the current
        one by default), switched to without downtime when the project runs."""
        self._refuse_while_deploying(project)
        with self._replacer.changing(project.id):
            return self._roll_back(session, project, owner, version)

    def _roll_back(self, session: Session, project: Project, owner: User,
                   version: int | None) -> tuple[Release, str]:
        session.refresh(project)  # a change that held the lock before may have moved it on
        target = self._rollback_target(session, project, version)
        env = releases.env_of(target)
        running = project.status == ProjectStatus.running
        if running and project.container_id and WEB in formation.types_of(
                releases.processes_of(target)):
            self._replacer.replace(project, owner, env, "rollback", image=target.image)
        elif not running:
            self._discard(project)  # it starts from the rolled-back image next time
        session.refresh(project)
        project.image = target.image
        configvars.store(session, project.id, env)
        release = releases.record(session, project, image=target.image, env=env,
                                  commit=target.commit, cause=f"rollback to v{target.version}",
                                  user_id=owner.id,
                                  # vN's image: its Procfile's types, not the current one's.
                                  processes=releases.processes_of(target))
        session.commit()
        if running:
            self._roll_processes(session, project, owner)
        return release, f"Rolled back to v{target.version}: now v{release.version}"

    def _rollback_target(self, session: Session, project: Project,
                         version: int | None) -> Release:
        current = project.release_version
        if current is None:
            raise Conflict(f"{project.name} has no release yet: deploy it first")
        wanted = current - 1 if version is None else version
        if wanted < 1:
            raise Conflict(f"v{current} is {project.name}'s first release: nothing before it")
        if wanted == current:
            raise Conflict(f"v{wanted} is already {project.name}'s current release")
        target = releases.get(session, project.id, wanted)
        if target is None:
            raise NotFound(f"{project.name} has no release v{wanted}")
        if not self._runtime.image_exists(target.image):
            raise Conflict(f"the image of v{wanted} was pruned (the newest "
                           f"{self._settings.releases_kept} releases keep theirs): deploy "
                           "the commit you want instead")
        return target

    def _roll_processes(self, session: Session, project: Project, owner: User) -> None:
        """The current release's replicas start, then the previous releases' go."""
        session.refresh(project)
        self._board.update_fields(project.id, release_version=project.release_version)
        if (target := self.formation.target(project)) is None:
            return  # a config change before the first deploy
        if not target.has_web and project.container_id:  # a release without web: no route
            self._discard(project)
            self._board.set(project.id, ProjectStatus.running,
                            no_web_reason(project.name, target.has_web_type),
                            container_id=None, host_port=None)
        elif target.has_web and not project.container_id:  # back to one with web
            self._await_running(project, self.recreate(project, owner, target.env).id, "")
        session.refresh(project)
        self.formation.converge(project, owner_of(project, owner), target)
        self.formation.retire_others(project, target.version)

    @staticmethod
    def _current_release(session: Session, project: Project) -> Release | None:
        if project.release_version is None:
            return None
        return releases.get(session, project.id, project.release_version)

    def _discard(self, project: Project) -> None:
        """Remove the project's container (a new one replaces it); not a crash."""
        if project.container_id:
            self._expected.expect(project.container_id)
        self.formation.expect_all(project.id)  # its other replicas' exits too
        remove_project_containers(self._runtime, project.id)

    def _await_running(self, project: Project, container_id: str, done: str) -> str:
        """Watch the container until it serves; the owner asked for it to run, so a crash
        count starts again from nothing."""
        problem, address = self._runtime.wait_serving(
            container_id, self._settings.health_timeout_s, project.health_path)
        wanted: dict[str, Any] = {"desired_status": DesiredStatus.running, "crash_streak": 0}
        if problem is not None or address is None:
            self._board.set(project.id, ProjectStatus.error, problem, **wanted)
            raise Conflict(f"{project.name} did not come up: {problem}")
        self._board.set(project.id, ProjectStatus.running, None, host_port=address.port,
                        running_since=utcnow(), **wanted)
        return done
