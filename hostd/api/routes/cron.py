"""`/api/projects/:id/cron…`: the scheduled jobs of a project's current release (its
app.json `cron`), their runs, and a run started by hand (hostd.control.cron)."""

from __future__ import annotations

from fastapi import APIRouter, status

from hostd.api.bodies import BodyTypedRoute
from hostd.api.deps import CronDep, CurrentUser, OwnedProject, SessionDep
from hostd.store import cron
from hostd.store.models import CronJobList, CronRunList, CronRunStarted

router = APIRouter(route_class=BodyTypedRoute)


@router.get("/{project_id}/cron", response_model=CronJobList)
def list_jobs(project: OwnedProject, scheduler: CronDep) -> CronJobList:
    """Each job: its schedule, command and concurrency policy, its last run (and how it
    ended) and its next time (null while the project is stopped)."""
    return CronJobList(jobs=scheduler.jobs(project))


@router.get("/{project_id}/cron/{job_id}/runs", response_model=CronRunList)
def list_runs(project: OwnedProject, job_id: str, session: SessionDep,
              scheduler: CronDep) -> CronRunList:
    """The job's kept runs (HOSTD_CRON_RUNS_KEPT), newest first, each with its output's
    last lines. A job the current release no longer has still shows its runs."""
    runs = cron.newest_runs(session, project.id, job_id[:16], scheduler.runs_kept)
    if not runs:
        scheduler.job(project, job_id)  # NotFound for a job with no runs it doesn't have
    return CronRunList(job=job_id, runs=[cron.with_log(run) for run in runs])


@router.post("/{project_id}/cron/{job_id}/run", response_model=CronRunStarted,
             status_code=status.HTTP_202_ACCEPTED)
def run_job(project: OwnedProject, job_id: str, user: CurrentUser,
            scheduler: CronDep) -> CronRunStarted:
    """Run the job once now, in a fresh container of the current release, as its
    concurrency policy allows (409 while a run of a `forbid` job is under way). 202 with
    the run; `GET …/runs` shows how it ended."""
    run = scheduler.run_now(project, user, job_id)
    return CronRunStarted(run=cron.to_public(run))
