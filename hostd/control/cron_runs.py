"""A scheduled job's runs: each one a one-off container of the project's current release
(hostd.control.oneoff: its config vars, /data, network and limits, no router traffic),
its command given to `sh -c` inside that container (never on the host), waited for on a
thread of its own, killed past HOSTD_CRON_TIMEOUT, and recorded as a `cron_runs` row with
the last HOSTD_CRON_LOG_KB of its output.

The job's `concurrency_policy` decides what a run does while an earlier one runs: `allow`
starts beside it, `forbid` is skipped (recorded so), `replace` stops the earlier one
(recorded killed) and starts. A user has at most HOSTD_CRON_RUNS_PER_USER runs at once,
the install HOSTD_CRON_CONCURRENCY: past either a run is skipped, saying so.

When a run ends, its project's failing jobs (those whose last run failed or was killed)
are updated, and the owner's event stream gets `cron_run` (and `status_changed` when the
failing jobs changed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from hostd.config import Settings
from hostd.control.oneoff import OneOffs
from hostd.control.runtime import EngineError, EngineUnavailable, Runtime
from hostd.control.status import StatusBoard
from hostd.errors import Conflict, RateLimited
from hostd.events import CRON_RUN, EventHub
from hostd.store import configvars, cron
from hostd.store.cron import Job
from hostd.store.models import CronRun, Project, RunStatus, User

log = logging.getLogger("hostd.cron")
Clock = Callable[[], datetime]
LOG_LINES = 2000  # asked of the engine; then cut to HOSTD_CRON_LOG_KB


@dataclass
class Active:
    """A run under way."""

    run_id: str
    project_id: str
    job_id: str
    user_id: str
    container_id: str
    stopped: str | None = None  # why hostd stopped it (a replace), None while it runs
    log_tail: str = ""  # read before hostd stopped it


class CronRunner:
    def __init__(self, settings: Settings, db: Engine, runtime: Runtime, oneoffs: OneOffs,
                 board: StatusBoard, hub: EventHub, clock: Clock) -> None:
        self._settings = settings
        self._db = db
        self._runtime = runtime
        self._oneoffs = oneoffs
        self._board = board
        self._hub = hub
        self.clock = clock
        self._lock = threading.Lock()
        self._active: dict[str, Active] = {}  # run id → the run
        # One launch at a time: a run by hand and one at its time never both pass a
        # `forbid` or a cap.
        self._launching = threading.Lock()

    def running(self, project_id: str, job_id: str | None = None) -> list[Active]:
        with self._lock:
            return [a for a in self._active.values() if a.project_id == project_id
                    and (job_id is None or a.job_id == job_id)]

    def launch(self, project: Project, owner: User, job: Job, scheduled_for: datetime, *,
               manual: bool = False) -> CronRun:
        """Run `job` now (its time: `scheduled_for`), as its policy says. Raises
        EngineUnavailable (nothing recorded: the scheduler tries again); a manual run
        raises Conflict (forbid) or RateLimited (a cap) where a scheduled one is skipped."""
        with self._launching:
            return self._launch(project, owner, job, scheduled_for, manual)

    def _launch(self, project: Project, owner: User, job: Job, scheduled_for: datetime,
                manual: bool) -> CronRun:
        earlier = self.running(project.id, job.id)
        if earlier and job.concurrency_policy == "forbid":
            why = (f"the run of {cron.when(self._started_at(earlier[0]))} still runs "
                   "(concurrency_policy forbid)")
            if manual:
                raise Conflict(f"job {job.id} is running and its concurrency_policy is forbid: "
                               "wait for that run to end")
            return self._record_skipped(project, job, scheduled_for, why)
        # The runs a replace stops make room for the new one.
        leaving = len(earlier) if job.concurrency_policy == "replace" else 0
        cap = self._over_cap(owner.id, leaving)
        if cap is not None:
            if manual:
                raise RateLimited(cap, retry_after=30)
            return self._record_skipped(project, job, scheduled_for, cap)
        if earlier and job.concurrency_policy == "replace":
            for active in earlier:
                self._stop(active, f"replaced by the run of {cron.when(scheduled_for)} "
                                   "(concurrency_policy replace)")
        return self._start(project, owner, job, scheduled_for, manual)

    def stop_all(self) -> None:
        """The daemon stops: its runs' containers stay until it is back (then they are
        recorded killed and removed)."""
        with self._lock:
            self._active.clear()

    # --- a run's life -------------------------------------------------------------------

    def _start(self, project: Project, owner: User, job: Job, scheduled_for: datetime,
               manual: bool) -> CronRun:
        with Session(self._db) as session:
            env = configvars.load(session, project.id)
        row = CronRun(project_id=project.id, job_id=job.id, scheduled_for=scheduled_for,
                      trigger="manual" if manual else "schedule", started_at=self.clock())
        try:
            row.container_id = self._oneoffs.start_job(project, owner, ["sh", "-c", job.command],
                                                       env, f"cron-{job.id}")
        except EngineUnavailable:
            raise
        except EngineError as exc:  # an image gone, a name in use: this run fails
            row.status, row.reason = RunStatus.failed, f"could not start: {exc}"[:2000]
            row.finished_at = self.clock()
            self._save(row, owner.id, finished=True)
            return row
        active = Active(row.id, project.id, job.id, owner.id, row.container_id)
        with self._lock:
            self._active[row.id] = active
        self._save(row, owner.id, finished=False)
        log.info("cron %s of %s: run %s in %s", job.id, project.id, row.id, row.container_id[:12])
        threading.Thread(target=self._follow, args=(active,), name=f"cron-{job.id}",
                         daemon=True).start()
        return row

    def _follow(self, active: Active) -> None:
        """Wait for the run to end (or its time to pass), then record how it ended."""
        limit = self._settings.cron_timeout_s
        try:
            code = self._runtime.wait_exit(active.container_id, limit)
        except EngineError:
            code = None  # removed meanwhile (a replace, the project deleted)
        status, reason = self._outcome(active, code, limit)
        tail = active.log_tail if active.stopped else self._tail(active.container_id)
        self._oneoffs.end_job(active.container_id)
        with self._lock:
            self._active.pop(active.run_id, None)
        with Session(self._db) as session:
            row = session.get(CronRun, active.run_id)
            if row is None:  # the project was deleted
                return
            row.finished_at, row.exit_code, row.status = self.clock(), code, status
            row.reason, row.log_tail = reason, tail
            self._save(row, active.user_id, finished=True, session=session)

    def _outcome(self, active: Active, code: int | None,
                 limit: int) -> tuple[RunStatus, str | None]:
        if active.stopped:
            return RunStatus.killed, active.stopped
        if code is None:
            if not self._runtime.reachable():
                return RunStatus.killed, "the Docker engine went away during the run"
            return RunStatus.killed, f"ran past its time limit ({limit} s, HOSTD_CRON_TIMEOUT)"
        if code == 0:
            return RunStatus.ok, None
        return RunStatus.failed, f"exited with code {code}"

    def _stop(self, active: Active, reason: str) -> None:
        active.log_tail = self._tail(active.container_id)
        active.stopped = reason
        self._oneoffs.end_job(active.container_id)  # its waiter wakes and records it

    def _tail(self, container_id: str) -> str:
        """The run's last output, at most HOSTD_CRON_LOG_KB (the newest kept)."""
        try:
            lines = self._runtime.logs(container_id, tail=LOG_LINES)
        except EngineError:
            return ""
        return bounded_tail(lines, self._settings.cron_log_kb * 1024)

    # --- records --------------------------------------------------------------------------

    def _record_skipped(self, project: Project, job: Job, scheduled_for: datetime,
                        reason: str) -> CronRun:
        now = self.clock()
        row = CronRun(project_id=project.id, job_id=job.id, scheduled_for=scheduled_for,
                      finished_at=now, status=RunStatus.skipped, reason=reason)
        self._save(row, project.user_id, finished=True)
        log.info("cron %s of %s: skipped: %s", job.id, project.id, reason)
        return row

    def record_missed(self, project: Project, job: Job, first: datetime, count: int,
                      until: datetime) -> None:
        """`count` times from `first` on passed with no run (hostd or the engine down)."""
        runs = "1 run" if count == 1 else f"{count} runs"
        reason = (f"{runs} from {cron.when(first)} on did not happen (hostd or the Docker "
                  f"engine was down, or the project stopped); run once at {cron.when(until)}")
        row = CronRun(project_id=project.id, job_id=job.id, scheduled_for=first,
                      finished_at=self.clock(), status=RunStatus.missed, reason=reason)
        self._save(row, project.user_id, finished=True)

    def _save(self, row: CronRun, user_id: str, *, finished: bool,
              session: Session | None = None) -> None:
        """Store the run; a finished one also prunes its job's runs, updates the
        project's failing jobs and tells the owner."""
        with session or Session(self._db) as db:
            db.add(row)
            db.commit()
            if finished:
                cron.prune(db, row.project_id, row.job_id, self._settings.cron_runs_kept)
                db.commit()
                changed = self.update_failing(db, row.project_id)
            public = cron.to_public(row).model_dump(mode="json")
        if finished:
            self._hub.publish(user_id, CRON_RUN, {"projectId": row.project_id, "run": public})
            if changed:
                self._board.announce(row.project_id)

    def update_failing(self, session: Session, project_id: str) -> bool:
        """The project's failing jobs, of its current release's; whether they changed."""
        project = session.get(Project, project_id)
        if project is None:
            return False
        jobs = cron.jobs_of_image(session, project_id, project.image)
        changed = cron.set_failing(session, project, cron.failing_jobs(session, project_id, jobs))
        session.commit()
        return changed

    def announce(self, project_id: str) -> None:
        self._board.announce(project_id)

    def _over_cap(self, user_id: str, leaving: int) -> str | None:
        with self._lock:
            mine = sum(1 for a in self._active.values() if a.user_id == user_id) - leaving
            every = len(self._active) - leaving
        settings = self._settings
        if mine >= settings.cron_runs_per_user:
            return (f"{mine} of your cron runs are under way, the most at once "
                    "(HOSTD_CRON_RUNS_PER_USER)")
        if every >= settings.cron_concurrency:
            return f"hostd runs {every} cron runs, its most at once (HOSTD_CRON_CONCURRENCY)"
        return None

    def _started_at(self, active: Active) -> datetime:
        with Session(self._db) as session:
            row = session.get(CronRun, active.run_id)
            return row.started_at if row is not None and row.started_at else self.clock()


def bounded_tail(lines: list[str], max_bytes: int) -> str:
    """The newest whole lines of `lines` that fit in `max_bytes` (UTF-8)."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        size += len(line.encode("utf-8", "replace")) + 1
        if size > max_bytes:
            break
        kept.append(line)
    if not kept and lines:  # one line longer than the whole budget: its end
        return lines[-1].encode("utf-8", "replace")[-max_bytes:].decode("utf-8", "ignore")
    return "\n".join(reversed(kept))
