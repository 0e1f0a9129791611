"""The deploy's named steps: clone (or unpack) → build → release → run → health_check →
switch, and what they share.

Each step is a small function of the JobContext (settings, engine, database, status
board) and the job; it writes progress to the job's build log and raises StepFailed
with a reason, or Cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlmodel import Session

from hostd.config import Settings
from hostd.control import buildlog, git, stages, upload
from hostd.control.appcontainer import remove_project_containers, run_app_container
from hostd.control.cron_release import keep_release_jobs
from hostd.control.job import DELETED, Cancelled, DeployJob, JobContext, StepFailed
from hostd.control.process_steps import (
    processes,
    read_app_formation,
    runs_without_web,
    web_replicas,
)
from hostd.control.release_phase import checkout_procfile, release
from hostd.control.runtime import (
    BuildFailed,
    BuildRefused,
    BuildRequest,
    BuildStopped,
    EngineError,
    EngineUnavailable,
)
from hostd.naming import container_name, image_tag
from hostd.store import configvars, formation, releases
from hostd.store.models import Project, ProjectSource, ProjectStatus
from hostd.store.models.processes import ProcessReplica

log = logging.getLogger("hostd.deploy")
Step = Callable[[JobContext, DeployJob], None]


# --- the steps -----------------------------------------------------------------------------


def clone(ctx: JobContext, job: DeployJob) -> None:
    job.log(f"cloning {git.redact(job.repo_url)}")
    try:
        job.commit = git.shallow_clone(job.repo_url, job.repo_dir, ctx.settings, job.cancel)
    except git.CloneFailed as exc:
        raise StepFailed(str(exc)) from None  # already says what failed, safely
    job.log(f"commit {job.commit}")


def unpack(ctx: JobContext, job: DeployJob) -> None:
    """An uploaded project's clone: its last archive, checked again and unpacked into
    the job's fresh directory; from here on it is built exactly like a checkout."""
    digest = job.upload_digest
    path = upload.archive_path(ctx.settings.data_dir, job.project_id)
    if digest is None or not path.is_file():
        raise StepFailed("no uploaded source to deploy: upload it again with hostctl up")
    job.log(f"unpacking the uploaded source {digest[:12]}")
    try:
        summary = upload.unpack(path, job.repo_dir, upload_limits(ctx.settings))
    except upload.UnsafeArchive as exc:
        raise StepFailed(f"the uploaded source can't be unpacked: {exc}") from None
    job.commit = digest
    job.log(f"{summary.files} members, {summary.bytes / 2**20:.1f} MB")


def upload_limits(settings: Settings) -> upload.ArchiveLimits:
    return upload.ArchiveLimits(max_files=settings.max_source_files,
                                max_bytes=settings.max_source_mb * 2**20,
                                timeout_s=settings.upload_timeout_s,
                                unpack_timeout_s=settings.build_timeout_s)


def build(ctx: JobContext, job: DeployJob) -> None:
    tag = image_tag(job.project_id, job.deployment_id)
    request = BuildRequest(deployment_id=job.deployment_id, project_id=job.project_id,
                           checkout=job.repo_dir, workdir=job.workdir, template=job.template,
                           tag=tag, labels=job.labels, on_log=job.log, cancel=job.cancel)
    try:
        ctx.runtime.build(request, lambda left: note_stage_images(ctx, job, left))
    except BuildStopped as exc:
        if exc.cancelled:
            raise Cancelled() from None
        raise StepFailed(str(exc)) from None
    except BuildRefused as exc:
        raise StepFailed(str(exc)) from None
    except BuildFailed as exc:
        raise StepFailed(_build_failure(exc, ctx.settings)) from None
    job.image = tag
    procfile = checkout_procfile(job)
    job.release_command = procfile.release if procfile else None
    # Without a Procfile the image's own command is `web`; which command that is (the
    # template's or a Dockerfile's CMD) is not known here: #26's next step fills it in.
    job.processes = procfile.processes if procfile else {}
    keep_release_jobs(ctx, job)  # app.json `cron`, checked and kept with the image
    read_app_formation(job)


def _build_failure(exc: BuildFailed, settings: Settings) -> str:
    if exc.oom:
        return (f"the build ran out of memory (limit {settings.build_memory_mb} MB)"
                " — see the build log")
    last = next((line for line in reversed(exc.log_tail) if line.strip()), str(exc))
    return f"the build failed: {last}"


def note_stage_images(ctx: JobContext, job: DeployJob, left: list[str]) -> None:
    """Record what the build left untagged, even when it failed (see hostd.control.stages)."""
    job.stage_images = left
    stages.record(buildlog.project_dir(ctx.settings.data_dir, job.project_id), left)


def run(ctx: JobContext, job: DeployJob) -> None:
    """The new container beside the one serving (if any): the router keeps sending traffic
    to the old one until `switch`."""
    assert job.image is not None
    with Session(ctx.db) as session:
        env = configvars.load(session, job.project_id)
    info = run_app_container(ctx.runtime, ctx.settings, job.image,
                             container_name(job.name, job.handle, job.deployment_id), job.labels,
                             env)
    job.container_id, job.host_port = info.id, info.host_port
    job.log(f"container {info.name} started, port 8000 published on 127.0.0.1:{info.host_port}")


def note_serving(ctx: JobContext, job: DeployJob) -> None:
    """Before the first step: the container serving now, if any, serves until `switch`
    (and on, should the deploy fail)."""
    job.serving_before, job.serving_port = _serving_container(ctx, job)
    if job.serving_before is None:
        with Session(ctx.db) as session:
            project = session.get(Project, job.project_id)
            job.running_without_web = project is not None and runs_without_web(session,
                                                                               project)


def _serving_container(ctx: JobContext, job: DeployJob) -> tuple[str | None, int | None]:
    with Session(ctx.db) as session:
        project = session.get(Project, job.project_id)
    if project is None or not project.container_id or project.host_port is None:
        return None, None
    state = ctx.runtime.inspect(project.container_id)
    if state is None or not state.running:
        return None, None
    return state.id, project.host_port


def health_check(ctx: JobContext, job: DeployJob) -> None:
    runtime = ctx.runtime
    assert job.container_id is not None
    timeout = ctx.settings.health_timeout_s
    job.log(f"waiting up to {timeout}s for HTTP on $PORT")
    container_id = job.container_id

    def stop_waiting() -> None:  # the wait polls the container: gone, it ends at once
        runtime.remove(container_id)

    forget = job.cancel.on_cancel(stop_waiting)
    try:
        problem, address = runtime.wait_serving(job.container_id, timeout, job.health_path)
    finally:
        forget()
    if job.cancel.cancelled:
        raise Cancelled(job.cancel.reason)
    if problem is None and address is not None:
        job.host_port = address.port
        return
    for line in runtime.logs(job.container_id, tail=20):
        job.log(f"app: {line}")
    if job.serving:
        # The old container serves on, untouched; the failed one goes (its last lines are
        # in the build log).
        runtime.remove(job.container_id)
        job.container_id = None
    else:
        # A first deploy: stopped, not removed, so its logs stay readable.
        runtime.stop(job.container_id, timeout_s=2)
        ctx.board.update_fields(job.project_id, container_id=job.container_id,
                                host_port=None, image=job.image)
    raise StepFailed(problem or "the app has no address")


def switch(ctx: JobContext, job: DeployJob) -> None:
    """Make the new container the project's, with its release, in one transaction (a
    daemon killed on either side of it comes back on one release); point the router at
    it; then let the old one finish what it was sent and remove it."""
    assert job.image is not None
    with ctx.changes.of(job.project_id):  # a config change meanwhile would take the number
        old_web = _make_current(ctx, job)
        # The status event is what every router worker reloads its table on.
        if job.serving:
            told = ctx.board.set(job.project_id, ProjectStatus.running,
                                 f"deploying: {STEP_TEXT['switch']}",
                                 only_if=[ProjectStatus.running])
        else:
            told = ctx.board.set(job.project_id, ProjectStatus.deploying, STEP_TEXT["switch"],
                                 only_if=[ProjectStatus.deploying])
        if not told:  # its status moved meanwhile (a crash of web.1): the routes did too
            ctx.board.replicas_changed(job.project_id)
    if job.has_web:
        job.log(f"traffic goes to the new container on 127.0.0.1:{job.host_port}")
    ctx.formation.remove(old_web)  # the previous release's web.2…, through the drain
    if job.serving_before:
        # Once every router worker has the new route, the old container drains (what it
        # was sent may finish) and goes, on a thread: the deploy is done already.
        ctx.retirer.retire(job.serving_before, job.serving_port, job.log)
    with Session(ctx.db) as session:  # every process's replicas stay (hostd.control.formation)
        replicas = {row.id for row in formation.rows(session, job.project_id)}
    remove_project_containers(ctx.runtime, job.project_id, job.log,
                              keep={job.container_id, job.serving_before, *replicas})


def _make_current(ctx: JobContext, job: DeployJob) -> list[ProcessReplica]:
    """The new container, its web replicas and its release become the project's, in one
    transaction; the previous release's web.2… are returned, no longer serving."""
    assert job.image is not None
    with Session(ctx.db) as session:
        project = session.get(Project, job.project_id)
        if project is None:
            raise Cancelled(DELETED)
        project.container_id, project.host_port = job.container_id, job.host_port
        project.image = job.image
        kind = "upload" if job.source == ProjectSource.upload else "deploy"
        cause = f"{kind} {job.commit[:7]}" if job.commit else kind
        release = releases.record(session, project, image=job.image,
                                  env=configvars.load(session, project.id), commit=job.commit,
                                  cause=cause, user_id=job.user_id,
                                  processes=job.processes)
        job.release_version = release.version
        old_web = ctx.formation.promote(session, project.id, job.pending_web, release.version)
        formation.sync_web1(session, project)  # the old web.1's row goes in the same switch
        session.commit()
        job.log(f"release v{release.version}")
    return old_web


STEP_TEXT = {
    "clone": "cloning the repository",
    "unpack": "unpacking the uploaded source",
    "build": "building the image",
    "release": "running the release command",
    "run": "starting the container",
    "health_check": "waiting for the app to answer",
    "web_replicas": "starting the other web replicas",
    "switch": "switching traffic to the new container",
    "processes": "starting the other process types",
}
STEPS: list[tuple[str, Step]] = [
    ("clone", clone), ("build", build), ("release", release), ("run", run),
    ("health_check", health_check), ("web_replicas", web_replicas), ("switch", switch),
    ("processes", processes),
]


def steps_for(job: DeployJob, steps: list[tuple[str, Step]]) -> list[tuple[str, Step]]:
    """An uploaded project unpacks its archive where a git project clones."""
    if job.source != ProjectSource.upload:
        return steps
    return [("unpack", unpack) if name == "clone" else (name, step) for name, step in steps]


# --- helpers --------------------------------------------------------------------------------


def prune_old_images(ctx: JobContext, job: DeployJob) -> None:
    """Keep the images of the newest HOSTD_RELEASES_KEPT releases (rollback targets) and
    this build's stages; earlier ones go."""
    runtime = ctx.runtime
    with Session(ctx.db) as session:
        kept = releases.kept_images(session, job.project_id, ctx.settings.releases_kept)
    for ref in runtime.project_images(job.project_id):
        if ref != job.image and ref not in kept:
            try:
                runtime.remove_image(ref, force=False)
            except EngineUnavailable:
                raise
            except EngineError as exc:
                # In use: the replaced replica still drains on it. The deploy has switched
                # already, so it must not fail for this; the next deploy prunes it.
                log.info("image %s kept for now: %s", ref, exc)
    stages.remove_all_but(runtime, buildlog.project_dir(ctx.settings.data_dir, job.project_id),
                          job.stage_images)
