"""A Procfile's `release:` command: run once in the new release's image, before its
container starts (Heroku's release phase: database migrations, asset uploads). It is the
deploy's `release` step, run by a release worker of its own (hostd.control.deployer):
however long it waits for its container, it holds no worker another user's deploy needs.

It runs as a one-off command does (hostd.control.oneoff): the new image, the config
vars, the project's /data, its network and limits, no router traffic, at most
HOSTD_RUN_TIMEOUT. Its output goes to the build log. If it fails (a non-zero exit, or out
of time), the deploy fails and the release that was serving serves on.
"""

from __future__ import annotations

from sqlmodel import Session

from hostd.control.job import Cancelled, DeployJob, JobContext, StepFailed
from hostd.control.oneoff import start_project_oneoff
from hostd.control.runtime import EngineError, Runtime
from hostd.naming import container_name
from hostd.source.checkout import Checkout, UnsafeCheckout
from hostd.source.procfile import Procfile
from hostd.source.procfile import read as read_procfile
from hostd.store import configvars

OUTPUT_LINES = 500  # of its output, into the build log


def checkout_procfile(job: DeployJob) -> Procfile | None:
    """The checkout's Procfile (read as any file hostd reads: regular, size-capped, never
    through a link): its `release:` line and its process types."""
    try:
        return read_procfile(Checkout(job.repo_dir))
    except UnsafeCheckout as exc:  # ProcfileError included; each message names the Procfile
        raise StepFailed(str(exc)) from None


def release(ctx: JobContext, job: DeployJob) -> None:
    """The release phase, when the build found a `release:` line."""
    if job.release_command:
        run_release_command(ctx, job, job.release_command)


def run_release_command(ctx: JobContext, job: DeployJob, command: str) -> None:
    """Run it to its end; StepFailed unless it exits 0 in time."""
    assert job.image is not None
    runtime, settings = ctx.runtime, ctx.settings
    with Session(ctx.db) as session:
        env = configvars.load(session, job.project_id)
    job.log(f"release command: {command}")
    container_id = start_project_oneoff(
        runtime, settings, job.image,
        container_name(job.name, job.handle, f"release-{job.deployment_id}"),
        ["sh", "-c", command], env=env, user_id=job.user_id, project_id=job.project_id)

    def stop() -> None:  # a cancelled deploy's release command ends at once
        runtime.remove(container_id)

    forget = job.cancel.on_cancel(stop)
    try:
        code = runtime.wait_exit(container_id, settings.run_timeout_s)
        _copy_output(runtime, container_id, job)
    finally:
        forget()
        runtime.remove(container_id)
    if job.cancel.cancelled:
        raise Cancelled(job.cancel.reason)
    if code is None:
        raise StepFailed(f"the release command ran out of time ({settings.run_timeout_s}s)")
    if code != 0:
        raise StepFailed(f"the release command exited with code {code}")


def _copy_output(runtime: Runtime, container_id: str, job: DeployJob) -> None:
    """Its last lines into the build log; none when it is gone already (a cancel)."""
    try:
        lines = list(runtime.logs(container_id, tail=OUTPUT_LINES))
    except EngineError:
        if job.cancel.cancelled:
            return
        raise
    for line in lines:
        job.log(f"release: {line}")
