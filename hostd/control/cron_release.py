"""A release's scheduled jobs, read at deploy: the checkout's app.json `cron` (read as
Dokku reads it, hostd.source.appjson), each schedule checked by the cron engine that will
run it, kept with the image the deploy built (hostd.store.cron), before the release is.

As Dokku, the jobs are validated after the build and before the release runs: an entry
hostd can't run fails the deploy, naming it, and the release that was serving serves on
with its own jobs.
"""

from __future__ import annotations

from sqlmodel import Session

from hostd.control import schedule
from hostd.control.job import DeployJob, JobContext, StepFailed
from hostd.source import appjson
from hostd.source.checkout import Checkout, UnsafeCheckout
from hostd.store import cron
from hostd.store.cron import Job


def keep_release_jobs(ctx: JobContext, job: DeployJob) -> None:
    """The build step's last part: the new image's jobs, checked and kept."""
    assert job.image is not None
    try:
        app = appjson.read(Checkout(job.repo_dir))
    except UnsafeCheckout as exc:  # AppJsonError included; each message names the field
        raise StepFailed(str(exc)) from None
    jobs = jobs_of(app.cron if app is not None else [])
    with Session(ctx.db) as session:
        cron.keep_jobs(session, job.project_id, job.image, jobs)
        session.commit()
    for entry in jobs:
        suspended = ", maintenance: not scheduled" if entry.maintenance else ""
        job.log(f"cron job {entry.id}: {entry.schedule} {entry.command[:200]}"
                f" ({entry.concurrency_policy}{suspended})")


def jobs_of(entries: list[appjson.CronJob]) -> list[Job]:
    """app.json's entries as jobs with their ids; StepFailed for one cron can't run or a
    repeated one (the same schedule and command: the same id)."""
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        try:
            schedule.check(entry.schedule)
        except schedule.BadSchedule as exc:
            raise StepFailed(f"app.json `cron[{index}].schedule`: {exc}") from None
        job_id = cron.job_id(entry.command, entry.schedule)
        if job_id in seen:
            raise StepFailed(f"app.json `cron[{index}]` repeats `cron[{seen[job_id]}]` "
                             "(the same schedule and command)")
        seen[job_id] = index
        jobs.append(Job(id=job_id, command=entry.command, schedule=entry.schedule,
                        concurrency_policy=entry.concurrency_policy,
                        maintenance=entry.maintenance))
    return jobs
