"""The scheduler of app.json `cron` jobs: each job of the current release of each project
meant to run, started at its times (UTC, the host's clock) by hostd.control.cron_runs.

Every HOSTD_CRON_TICK seconds it reads, in one query, the projects whose desired status is
`running` with their current release's jobs, and starts those whose time has come. What it
knows of each job is the last time it handled (a run, a skip); at hostd's start that is
the job's newest run, or the time its release became current. Times that passed while
hostd or the engine was down (or the project stopped) are not each run: the job runs
ONCE, for the latest of them, and one `missed` row says how many were not. While the
engine is away nothing starts (the starts are tried again every few seconds).

The clock is injectable (`clock`, a function returning an aware UTC datetime): the tests
move it and call `tick()`, instead of waiting for minutes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_
from sqlmodel import Session, col, select

from hostd.config import Settings
from hostd.control import schedule
from hostd.control.cron_runs import Active, CronRunner
from hostd.control.runtime import EngineError, EngineUnavailable
from hostd.errors import Conflict, NotFound
from hostd.store import cron
from hostd.store.cron import Job
from hostd.store.models import (
    CronJobPublic,
    CronRun,
    DesiredStatus,
    Project,
    Release,
    ReleaseCron,
    RunStatus,
    User,
    as_utc,
)

log = logging.getLogger("hostd.cron")
ENGINE_RETRY = timedelta(seconds=5)
INTERRUPTED = "hostd stopped during the run"


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Track:
    handled: datetime  # the last time of the job that was run, skipped or counted missed
    next_due: datetime


class Scheduler:
    def __init__(self, settings: Settings, db: Engine, runner: CronRunner,
                 clock: Callable[[], datetime] = system_clock) -> None:
        self._settings = settings
        self._db = db
        self.runner = runner
        self._clock = clock
        self._tracks: dict[tuple[str, str], _Track] = {}  # (project, job) → its times
        self._images: dict[str, str | None] = {}  # project → the image its jobs came from
        self._engine_back_at: datetime | None = None  # after an EngineUnavailable
        self._tick_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def runs_kept(self) -> int:
        return self._settings.cron_runs_kept

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self.runner.clock = clock

    # --- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Record the runs a stopped hostd left unfinished, then tick on a thread."""
        if self._thread is not None:
            return
        self.close_interrupted()
        self._thread = threading.Thread(target=self._loop, name="cron", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
        self.runner.stop_all()

    def _loop(self) -> None:
        while not self._stopping.wait(self._settings.cron_tick_s):
            try:
                self.tick()
            except Exception:  # never the scheduler's end: the next tick tries again
                log.exception("cron tick failed")

    def close_interrupted(self) -> None:
        """Runs left `running` by a hostd that stopped: killed, saying so (their
        containers are removed by the reconciler)."""
        with Session(self._db) as session:
            rows = cron.unfinished(session)
            projects = {row.project_id for row in rows}
            for row in rows:
                row.status, row.reason = RunStatus.killed, INTERRUPTED
                row.finished_at = self._clock()
                session.add(row)
            session.commit()
            for project_id in projects:
                self.runner.update_failing(session, project_id)

    def tick(self) -> None:
        """Start every job whose time has come."""
        with self._tick_lock:
            now = self._clock()
            if self._engine_back_at is not None and now < self._engine_back_at:
                return
            self._engine_back_at = None
            seen: set[str] = set()
            for project, owner, jobs, release_at in self._scheduled():
                seen.add(project.id)
                if self._images.get(project.id, "") != project.image:
                    self._new_jobs(project, jobs)
                try:
                    self._tick_project(project, owner, jobs, release_at, now)
                except EngineUnavailable:
                    self._engine_back_at = now + ENGINE_RETRY
                    return
            self._forget_all_but(seen)

    def _tick_project(self, project: Project, owner: User, jobs: list[Job],
                      release_at: datetime, now: datetime) -> None:
        last: dict[str, CronRun] | None = None
        for job in jobs:
            if job.maintenance:
                continue
            track = self._tracks.get((project.id, job.id))
            if track is None:
                if last is None:
                    with Session(self._db) as session:
                        last = cron.last_runs(session, project.id)
                track = self._first_track(job, last.get(job.id), release_at)
                self._tracks[(project.id, job.id)] = track
            if track.next_due <= now:
                self._run_due(project, owner, job, track, now)

    def _first_track(self, job: Job, last: CronRun | None, release_at: datetime) -> _Track:
        handled = release_at if last is None else max(release_at, as_utc(last.scheduled_for))
        return _Track(handled, schedule.next_after(job.schedule, handled))

    def _run_due(self, project: Project, owner: User, job: Job, track: _Track,
                 now: datetime) -> None:
        """Run the job once for its latest time; the earlier ones passed are `missed`."""
        latest = schedule.latest_at_or_before(job.schedule, now) or track.next_due
        missed = schedule.times_between(job.schedule, track.handled, latest) - 1
        try:
            self.runner.launch(project, owner, job, latest)
        except EngineUnavailable:
            raise
        except EngineError as exc:  # recorded by the runner where it could; go on
            log.warning("cron %s of %s could not run: %s", job.id, project.id, exc)
        if missed > 0:
            self.runner.record_missed(project, job, track.next_due, missed, now)
        track.handled, track.next_due = latest, schedule.next_after(job.schedule, latest)

    def _new_jobs(self, project: Project, jobs: list[Job]) -> None:
        """The project's current release changed its image: forget what the jobs it no
        longer has were, and show only its own jobs as failing."""
        self._images[project.id] = project.image
        ids = {job.id for job in jobs}
        for key in [k for k in self._tracks if k[0] == project.id and k[1] not in ids]:
            del self._tracks[key]
        with Session(self._db) as session:
            if self.runner.update_failing(session, project.id):
                self.runner.announce(project.id)

    def _forget_all_but(self, project_ids: set[str]) -> None:
        """Projects no longer meant to run: when they run again, they start afresh from
        their release's time or the time they were last seen."""
        for key in [k for k in self._tracks if k[0] not in project_ids]:
            del self._tracks[key]
        for project_id in [p for p in self._images if p not in project_ids]:
            del self._images[project_id]
            # A release without jobs now (or a project stopped or deleted): failing only
            # among the jobs its current release has.
            with Session(self._db) as session:
                if self.runner.update_failing(session, project_id):
                    self.runner.announce(project_id)

    def _scheduled(self) -> list[tuple[Project, User, list[Job], datetime]]:
        """The projects meant to run whose current release has jobs, with their owner,
        the jobs, and when the release became current."""
        query = (select(Project, User, ReleaseCron, Release)
                 .join(User, col(User.id) == col(Project.user_id))
                 .join(ReleaseCron, and_(col(ReleaseCron.project_id) == col(Project.id),
                                         col(ReleaseCron.image) == col(Project.image)))
                 .join(Release, and_(col(Release.project_id) == col(Project.id),
                                     col(Release.version) == col(Project.release_version)))
                 .where(col(Project.desired_status) == DesiredStatus.running.value,
                        col(ReleaseCron.jobs_json) != "[]"))
        with Session(self._db) as session:
            rows = session.exec(query).all()
        return [(project, owner, cron.parse_jobs(jobs.jobs_json), as_utc(release.created_at))
                for project, owner, jobs, release in rows]

    # --- what the API asks ----------------------------------------------------------------

    def jobs(self, project: Project) -> list[CronJobPublic]:
        """The current release's jobs, each with its last run and its next time."""
        with Session(self._db) as session:
            jobs = cron.jobs_of_image(session, project.id, project.image)
            last = cron.last_runs(session, project.id)
        now = self._clock()
        scheduled = project.desired_status == DesiredStatus.running
        return [CronJobPublic(
            id=job.id, command=job.command, schedule=job.schedule,
            concurrency_policy=job.concurrency_policy,
            last_run=cron.to_public(last[job.id]) if job.id in last else None,
            maintenance=job.maintenance,
            next_run=(schedule.next_after(job.schedule, now)
                      if scheduled and not job.maintenance else None),
            running=len(self.runner.running(project.id, job.id))) for job in jobs]

    def job(self, project: Project, job_id: str) -> Job:
        """One of the current release's jobs; NotFound naming the ones it has."""
        with Session(self._db) as session:
            jobs = cron.jobs_of_image(session, project.id, project.image)
        found = next((job for job in jobs if job.id == job_id), None)
        if found is None:
            have = ", ".join(job.id for job in jobs) or "none"
            raise NotFound(f"{project.name} has no cron job {job_id[:40]!r} "
                           f"(its current release has: {have})")
        return found

    def run_now(self, project: Project, owner: User, job_id: str) -> CronRun:
        """`cron run`: the job once, now, as its policy allows (Conflict, RateLimited)."""
        job = self.job(project, job_id)
        if not project.image:
            raise Conflict(f"{project.name} has no release to run a job in yet")
        return self.runner.launch(project, owner, job, self._clock(), manual=True)

    def running(self, project_id: str) -> list[Active]:
        return self.runner.running(project_id)
