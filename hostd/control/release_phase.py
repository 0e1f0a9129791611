"""A Procfile's `release:` command: run once in the new release's image, before its
container starts (Heroku's release phase: database migrations, asset uploads).

It runs as a one-off command does (hostd.engine.oneoff): the new image, the config
vars, the project's /data, its network and limits, no router traffic, at most
HOSTD_RUN_TIMEOUT. Its output goes to the build log. If it fails (a non-zero exit, or out
of time), the deploy fails and the release that was serving serves on.
"""

from __future__ import annotations

from sqlmodel import Session

from hostd.control.job import DeployJob, JobContext, StepFailed
from hostd.control.oneoff import start_project_oneoff
from hostd.engine import containers as engine
from hostd.engine.checkout import Checkout, UnsafeCheckout
from hostd.engine.logs import split_lines
from hostd.engine.naming import container_name
from hostd.engine.oneoff import exit_code
from hostd.engine.pyapp import procfile_command
from hostd.store import configvars

OUTPUT_LINES = 500  # of its output, into the build log


def release_command(job: DeployJob) -> str | None:
    """The checkout's Procfile `release:` line (read as any file hostd reads: regular,
    size-capped, never through a link)."""
    try:
        return procfile_command(Checkout(job.repo_dir), "release")
    except UnsafeCheckout as exc:
        raise StepFailed(f"Procfile: {exc}") from None


def run_release_command(ctx: JobContext, job: DeployJob, command: str) -> None:
    """Run it to its end; StepFailed unless it exits 0 in time."""
    assert job.image is not None
    client, settings = ctx.docker.client(), ctx.settings
    with Session(ctx.db) as session:
        env = configvars.load(session, job.project_id)
    job.log(f"release command: {command}")
    container_id = start_project_oneoff(
        client, settings, job.image,
        container_name(job.name, job.handle, f"release-{job.deployment_id}"),
        ["sh", "-c", command], env=env, user_id=job.user_id, project_id=job.project_id)
    def stop() -> None:  # a cancelled deploy's release command ends at once
        engine.remove_container(client, container_id, force=True)

    forget = job.cancel.on_cancel(stop)
    try:
        code = exit_code(client, container_id, settings.run_timeout_s)
        raw = client.containers.get(container_id).logs(stream=False, tail=OUTPUT_LINES)
        for line in split_lines([raw]):
            job.log(f"release: {line}")
    finally:
        forget()
        engine.remove_container(client, container_id, force=True)
    if code is None:
        raise StepFailed(f"the release command ran out of time ({settings.run_timeout_s}s)")
    if code != 0:
        raise StepFailed(f"the release command exited with code {code}")
