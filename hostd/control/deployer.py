"""The deploy pipeline: clone (or unpack) → build → release → run → health_check →
switch, one job per deployment.

Each step is a small function of the job and the JobContext the Deployer builds once
(settings, engine, database, status board); it writes progress to the deployment's build
log and fails with `StepFailed(reason)`, a sentence a person can act on. A job's
CancelScope (project deleted, superseded) is checked at every step boundary, and a daemon
that dies mid-deploy leaves work the reconciler marks interrupted.

Fair under free accounts. The steps run on three pools of daemon threads, fairly between
users (hostd.control.fairqueue), so a slow build never blocks the API:

- `deploy` workers (HOSTD_DEPLOY_CONCURRENCY, 4): clone or unpack, start the container,
  health check, switch — steps bounded by minute-scale limits (HOSTD_CLONE_TIMEOUT 120 s,
  HOSTD_HEALTH_TIMEOUT 60 s);
- `build` workers (HOSTD_BUILD_CONCURRENCY, 2): image builds, the CPU-heavy part, each
  bounded by HOSTD_BUILD_TIMEOUT/CPUS/MEMORY;
- `release` workers (HOSTD_RELEASE_CONCURRENCY, 4): a Procfile's release phase, which
  waits on its container for up to HOSTD_RUN_TIMEOUT (600 s).

Between two steps of different pools a job waits in the queue holding no worker. A user
has at most one deploy active, so however many accounts sleep in `release:` (or in a
`RUN sleep` of their build), they hold at most the release (or build) workers: the
deploy workers stay free and a newcomer's deploy starts as soon as one is (in each pool
the user served least recently goes first: a newcomer's deploy before anyone's next
step). Past HOSTD_RELEASE_CONCURRENCY sleepers, further release phases wait
their turn (status "waiting for a release slot"), not other users' deploys; past
HOSTD_BUILD_CONCURRENCY, builds do. At most 4 + 2 + 4 threads, 2 builds and 4 release
containers at once by default, whatever the number of accounts.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from hostd.config import Settings
from hostd.control import buildlog
from hostd.control.buildlog import BuildLog
from hostd.control.changes import ChangeLocks
from hostd.control.fairqueue import START, Entry, FairQueue, QueueFull, Reservation
from hostd.control.formation import Formation
from hostd.control.job import DELETED, Cancelled, DeployJob, JobContext, StepFailed
from hostd.control.process_steps import drop_pending, no_web_reason, runs_without_web
from hostd.control.retire import Retirer
from hostd.control.runtime import EngineError, EngineUnavailable, Runtime
from hostd.control.status import StatusBoard
from hostd.control.steps import STEP_TEXT, STEPS, note_serving, prune_old_images, steps_for
from hostd.errors import RateLimited
from hostd.naming import labels_for
from hostd.store.formation import WEB, owner_set
from hostd.store.models import (
    Deployment,
    DeploymentStatus,
    DeployOutcome,
    DesiredStatus,
    Project,
    ProjectStatus,
    User,
    utcnow,
)

log = logging.getLogger("hostd.deploy")
# A deploy that succeeds owns the project's status unless it was cancelled (then the
# project is gone or a newer deploy owns it); `error`: what served crashed meanwhile.
SUCCEEDING_FROM = [ProjectStatus.deploying, ProjectStatus.running, ProjectStatus.error]
BUILD, RELEASE = "build", "release"  # the pools besides the deploy workers' (START)
WEB_STEPS = ("run", "health_check", "web_replicas")
WAITING_TEXT = {START: "waiting for a deploy worker", BUILD: "waiting for a build slot",
                RELEASE: "waiting for a release slot"}


def worker_threads(settings: Settings) -> int:
    """The deployer's threads, all three pools."""
    return settings.deploy_concurrency + settings.build_concurrency + \
        settings.release_concurrency


def pool_of(step: str, job: DeployJob) -> str | None:
    """The pool that runs `step`; None: a step with nothing to do for this job (a release
    phase without a `release:` line), skipped."""
    if step == "build":
        return BUILD
    if step == "release":
        return RELEASE if job.release_command else None
    if step in WEB_STEPS and not job.has_web:
        return None  # a Procfile without `web:`: no container to gate, no route
    return START


class Deployer:
    def __init__(self, settings: Settings, db_engine: Engine, runtime: Runtime,
                 board: StatusBoard, retirer: Retirer, changes: ChangeLocks) -> None:
        self.settings = settings
        self.db = db_engine
        self.runtime = runtime
        self.board = board
        self.context = JobContext(settings=settings, runtime=runtime, db=db_engine, board=board,
                                  retirer=retirer, changes=changes,
                                  formation=Formation(settings, db_engine, runtime, board,
                                                      retirer))
        self._queue: FairQueue[DeployJob] = FairQueue(settings.max_queued_deploys)
        self._pools = {START: settings.deploy_concurrency, BUILD: settings.build_concurrency,
                       RELEASE: settings.release_concurrency}
        # Held by a cancel and by a job's status writes: once cancel() returns, the
        # cancelled job never writes the project's status again.
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for pool, size in self._pools.items():
            for index in range(size):
                # Daemon threads: a stopping daemon never waits for a build; the next
                # start marks what was cut short as interrupted.
                threading.Thread(target=self._work, args=(pool,), name=f"{pool}-{index}",
                                 daemon=True).start()

    def is_deploying(self, project_id: str) -> bool:
        return self._queue.holds(project_id)

    def reserve(self, owner_id: str, *, replacing: str | None = None) -> Reservation:
        """A waiting slot for the owner's next deploy, or RateLimited (429) when their
        queue is full; take it before storing anything the deploy needs."""
        try:
            return self._queue.reserve(owner_id, replacing=replacing)
        except QueueFull as full:
            raise RateLimited(
                f"You already have {full.waiting} deploys waiting (at most "
                f"{self._queue.cap}); try again once one of them has started",
                retry_after=full.retry_after_s) from None

    def submit(self, session: Session, project: Project, owner: User,
               slot: Reservation | None = None) -> Deployment:
        """Record a new deployment, mark the project deploying, and queue the job in
        `slot` (reserved here when not given: RateLimited when the queue is full)."""
        with slot or self.reserve(owner.id) as held:
            deployment = Deployment(project_id=project.id, step="queued")
            session.add(deployment)
            session.commit()
            job = DeployJob(
                project_id=project.id, user_id=owner.id, deployment_id=deployment.id,
                name=project.name, handle=owner.handle, repo_url=project.github_url,
                template=project.template, workdir=Path(), health_path=project.health_path,
                source=project.source, upload_digest=project.upload_digest,
                web_quantity=owner_set(project).get(WEB),
                log=BuildLog(buildlog.log_path(self.settings.data_dir, project.id,
                                               deployment.id)),
                labels=labels_for(self.settings.instance_label, project.id, owner.id,
                                  deployment.id),
            )
            job.log.step("queued", f"deployment {deployment.id}")
            # A deploy means "run this": a crash-restart cycle of the last release ends.
            # A running project stays `running` on its port (the router serves it until
            # the switch); any other is `deploying` with none, and the router says so.
            if project.status == ProjectStatus.running and (
                    project.host_port is not None or runs_without_web(session, project)):
                self.board.set(project.id, ProjectStatus.running, "deploying: queued",
                               desired_status=DesiredStatus.running, crash_streak=0,
                               deploy_step="queued")
            else:
                self.board.set(project.id, ProjectStatus.deploying, "queued",
                               desired_status=DesiredStatus.running, crash_streak=0,
                               host_port=None, deploy_step="queued")
            self._queue.put(held, project.id, job)
        return deployment

    def cancel(self, project_id: str, reason: str) -> None:
        """Drop the project's waiting deploys and cancel its running one with `reason`."""
        with self._lock:
            dropped = self._queue.remove_project(project_id)
            running = self._queue.running(project_id)
            if running is not None:
                running.cancel.cancel(reason)  # its hooks unblock the step it is in
            # Between two pools no worker has it: it ends here, not once a slot frees.
            parked = self._queue.withdraw(project_id)
        for job in dropped:
            job.cancel.cancel(reason)
            _say(job, f"deploy cancelled before it started: {reason}")
            self._update_deployment(job, status=DeploymentStatus.failed, step="cancelled",
                                    reason=reason, finished_at=utcnow())
        if parked is not None:
            self._end(parked.job, Cancelled(reason))
            _clean(parked.job)

    def _work(self, pool: str) -> None:
        while (entry := self._queue.take(pool)) is not None:
            entry.job.finished = partial(self._queue.done, entry)
            try:
                after = self._advance(entry.job, pool)
                if after is not None and self._hand_over(entry, after):
                    continue  # a worker of `after` goes on with it
            except Exception:
                log.exception("deploy %s crashed", entry.job.deployment_id)
                _clean(entry.job)
            self._queue.done(entry)

    def run(self, job: DeployJob) -> None:
        """Walk every step here, whatever its pool (see _advance)."""
        self._advance(job, None)

    def _advance(self, job: DeployJob, pool: str | None) -> str | None:
        """Walk the steps `pool` runs (all with None); the pool the job waits for next,
        or None once it has ended: running, in error with a reason, or cancelled (_end)."""
        try:
            if job.next_step == 0:
                self._begin(job)
            steps = steps_for(job, STEPS)
            while job.next_step < len(steps):
                name, step = steps[job.next_step]
                wanted = pool_of(name, job)
                if wanted is None:
                    job.next_step += 1
                    continue
                if pool is not None and wanted != pool:
                    self._check_cancelled(job)
                    return wanted
                self._enter(job, name)
                step(self.context, job)
                job.next_step += 1
            self._check_cancelled(job)
            self._succeed(job)
        except Exception as exc:
            self._end(job, exc)
        _clean(job)
        return None

    def _begin(self, job: DeployJob) -> None:
        job.workdir = Path(tempfile.mkdtemp(prefix="hostd-deploy-"))
        note_serving(self.context, job)
        if not job.serving:  # what served is gone: no longer `running`
            self._set_status(job, ProjectStatus.deploying, "queued",
                             only_if=[ProjectStatus.running], host_port=None)

    def _hand_over(self, entry: Entry[DeployJob], pool: str) -> bool:
        """Queue the job for a worker of `pool` (False: cancelled meanwhile, and ended)."""
        job = entry.job
        if self._queue.in_stage(pool) >= self._pools[pool]:  # every worker busy: say so
            waiting = steps_for(job, STEPS)[job.next_step][0]
            self._update_deployment(job, step=waiting)
            self._say_step(job, waiting, WAITING_TEXT[pool])
        with self._lock:  # a cancel from now on finds it waiting (see cancel)
            if not job.cancel.cancelled:
                self._queue.hand_over(entry, pool)
                return True
        self._end(job, Cancelled(job.cancel.reason))
        _clean(job)
        return False

    def _end(self, job: DeployJob, exc: Exception) -> None:
        drop_pending(self.context, job)  # web replicas it started and never switched to
        # Once the scope is cancelled, whatever a step raised (a build whose socket the
        # cancel closed, a health check whose container it removed) is the cancel's doing.
        if isinstance(exc, Cancelled) or job.cancel.cancelled:
            self._end_cancelled(job, job.cancel.reason or str(exc))
        elif isinstance(exc, StepFailed):
            self._fail(job, str(exc))
        elif isinstance(exc, EngineUnavailable):
            self._fail(job, f"the Docker engine is unreachable: {exc}")
        elif isinstance(exc, EngineError):
            self._fail(job, f"Docker engine error: {exc}")
        else:
            log.exception("deploy %s failed unexpectedly", job.deployment_id, exc_info=exc)
            self._fail(job, f"internal error in hostd: {type(exc).__name__}: {exc}")

    def _check_cancelled(self, job: DeployJob) -> None:
        if job.cancel.cancelled:
            raise Cancelled(job.cancel.reason)
        if not self._project_exists(job.project_id):
            raise Cancelled(DELETED)

    def _enter(self, job: DeployJob, step: str) -> None:
        self._check_cancelled(job)
        job.log.step(step)
        self._update_deployment(job, step=step)
        self._say_step(job, step, STEP_TEXT[step])

    def _say_step(self, job: DeployJob, step: str, text: str) -> None:
        """`deploy_step` names the step that runs or waits for a worker (clients show it as
        progress), the reason says `text` to people; the step is written even when the
        status has moved on."""
        if job.serving:
            said = self._set_status(job, ProjectStatus.running, f"deploying: {text}",
                                    only_if=[ProjectStatus.running], deploy_step=step)
        else:
            said = self._set_status(job, ProjectStatus.deploying, text,
                                    only_if=[ProjectStatus.deploying], deploy_step=step)
        if not said:
            self._set_fields(job, deploy_step=step)

    def _set_status(self, job: DeployJob, status: ProjectStatus, reason: str | None,
                    **kwargs: Any) -> bool:
        """The project's status, unless the job was cancelled: then the project is gone,
        or the deploy that superseded this one owns its status."""
        with self._lock:
            return not job.cancel.cancelled and self.board.set(job.project_id, status, reason,
                                                               **kwargs)

    def _set_fields(self, job: DeployJob, **fields: Any) -> None:
        """Columns other than the status, unless the job was cancelled (as _set_status)."""
        with self._lock:
            if not job.cancel.cancelled:
                self.board.update_fields(job.project_id, **fields)

    def _over(self, job: DeployJob, outcome: DeployOutcome, reason: str | None) -> None:
        """The deploy's outcome and no step, before its place in the queue is freed: a
        client that sees it no longer deploying sees how it ended."""
        self._set_fields(job, deploy_step=None, last_deploy_status=outcome,
                         last_deploy_reason=reason[:2000] if reason else None)
        _release(job)

    def _succeed(self, job: DeployJob) -> None:
        no_web = None if job.has_web else no_web_reason(job.name, job.has_web_type)
        job.log(f"deployed: {no_web or f'listening on 127.0.0.1:{job.host_port}'}")
        prune_old_images(self.context, job)
        self._update_deployment(job, status=DeploymentStatus.succeeded, step="done",
                                finished_at=utcnow())
        # Last: once clients see `running`, the deploy is over.
        self._over(job, DeployOutcome.succeeded, None)
        self._set_status(job, ProjectStatus.running, no_web,
                         only_if=SUCCEEDING_FROM,
                         restarts=0, running_since=utcnow(), last_exit_code=None,
                         last_exit_oom=False, last_exit_at=None)

    def _fail(self, job: DeployJob, reason: str) -> None:
        job.log(f"deploy failed: {reason}")
        self._update_deployment(job, status=DeploymentStatus.failed, reason=reason[:2000],
                                finished_at=utcnow())
        self._over(job, DeployOutcome.failed, reason)
        if job.serving and job.container_id is None:
            # The old container never stopped serving: a failed change changes nothing.
            self._set_status(job, ProjectStatus.running, f"the last deploy failed: {reason}",
                             only_if=[ProjectStatus.running, ProjectStatus.deploying])
        else:
            self._set_status(job, ProjectStatus.error, reason)

    def _end_cancelled(self, job: DeployJob, reason: str) -> None:
        """Failed with the reason, and what it made removed; the project's status is
        left alone (see _set_status)."""
        _say(job, f"deploy cancelled: {reason}")
        self._update_deployment(job, status=DeploymentStatus.failed, reason=reason,
                                finished_at=utcnow())
        if not (job.container_id or job.image):
            return
        try:
            if job.container_id:
                self.runtime.remove(job.container_id)
            if job.image:
                self.runtime.remove_image(job.image, force=True)
        except EngineError as exc:  # the reconciler removes it later
            log.warning("could not clean up cancelled deploy %s: %s", job.deployment_id, exc)

    def _project_exists(self, project_id: str) -> bool:
        with Session(self.db) as session:
            return session.get(Project, project_id) is not None

    def _update_deployment(self, job: DeployJob, **values: object) -> None:
        with Session(self.db) as session:
            row = session.get(Deployment, job.deployment_id)
            if row is None:
                return
            for key, value in values.items():
                setattr(row, key, value)
            row.commit, row.image = job.commit or row.commit, job.image or row.image
            session.add(row)
            session.commit()


def _clean(job: DeployJob) -> None:
    """The job's working directory (its checkout, the build context) goes."""
    if job.workdir != Path():
        shutil.rmtree(job.workdir, ignore_errors=True)


def _release(job: DeployJob) -> None:
    if job.finished is not None:
        job.finished()


def _say(job: DeployJob, line: str) -> None:
    """A build log line that may come after the project (and its log dir) was deleted."""
    with contextlib.suppress(FileNotFoundError):
        job.log(line)
