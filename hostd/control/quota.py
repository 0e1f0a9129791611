"""Per-user quotas: how many projects a user may have, and how much container memory
their projects may reserve.

The rule (SECURITY.md, "Limits per user"): memory is reserved by what runs. A project
reserves HOSTD_CONTAINER_MEMORY_MB per replica of its formation (every process type's,
issue 26: web 3 + worker 1 reserve four shares) while it runs or is being started: it is
deploying (queued included), running, or down after a crash and waiting out its restart
backoff (the supervisor brings it back, and that is never refused, so its share stays
taken). A project whose deploy failed with nothing running, or that is stopped, reserves
nothing. The sum may not pass HOSTD_MAX_MEMORY_MB_PER_USER. It is checked where a project
comes to run: create, deploy and start (a restart of a stopped or failed project is one of
these). What already reserves (a running project redeployed, a crashed one started now)
is never refused.

Race-safety: the check and the change it admits must not interleave with another's.
The checks are made under one lock, and what has been admitted but may not be in the
database yet (a create before its commit, a start before its desired status is written)
is held in memory, by project id, until the request ends; the database's ids and these
are counted as one set, so nothing counts twice and two concurrent requests at the limit
cannot both pass. The lock is this process's: two daemons sharing one database do not
share it.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from hostd.config import Settings
from hostd.control.supervision import supervised
from hostd.errors import QuotaExceeded
from hostd.store import formation, projects
from hostd.store.models import Project, ProjectStatus, new_id


@dataclass
class _Admitted:
    """What was admitted for one user and is not in the database yet."""

    new: set[str] = field(default_factory=set)  # ids of projects being created
    starting: Counter[str] = field(default_factory=Counter)  # ids of projects being started

    @property
    def idle(self) -> bool:
        return not self.new and not self.starting


class Quota:
    def __init__(self, settings: Settings, db: Engine) -> None:
        self._max_projects = settings.max_projects_per_user
        self._max_memory_mb = settings.max_memory_mb_per_user
        self._memory_mb = settings.container_memory_mb
        self._db = db
        self._lock = threading.Lock()
        self._admitted: dict[str, _Admitted] = {}

    @contextlib.contextmanager
    def creating(self, user_id: str) -> Iterator[str]:
        """Around storing a new project (which then wants to run), with the id it must be
        stored with: QuotaExceeded when the user has as many projects as allowed, or the
        memory it reserves would not fit."""
        project_id = new_id()
        with self._lock:
            held = self._admitted.get(user_id) or _Admitted()
            with Session(self._db) as session:
                self._check_count(session, user_id, held)
                self._check_memory(session, user_id, held, project_id, "A new project")
            held.new.add(project_id)
            self._admitted[user_id] = held
        try:
            yield project_id
        finally:
            self._release(user_id, lambda held: held.new.discard(project_id))

    def starting(self, user_id: str, project_id: str,
                 name: str) -> contextlib.AbstractContextManager[None]:
        """Around a deploy or start of a project: QuotaExceeded when it does not reserve
        memory yet and its share would not fit. Held until its desired status is written."""
        return self._reserving(user_id, project_id, f"Starting {name}")

    def scaling(self, user_id: str, project_id: str, name: str,
                replicas: int) -> contextlib.AbstractContextManager[None]:
        """Around a formation change of a project that runs: QuotaExceeded when its
        `replicas` in all would not fit beside the user's other projects."""
        return self._reserving(user_id, project_id, f"Scaling {name}", replicas)

    @contextlib.contextmanager
    def _reserving(self, user_id: str, project_id: str, doing: str,
                   replicas: int | None = None) -> Iterator[None]:
        with self._lock:
            held = self._admitted.get(user_id) or _Admitted()
            with Session(self._db) as session:
                self._check_memory(session, user_id, held, project_id, doing, replicas)
            held.starting[project_id] += 1
            self._admitted[user_id] = held
        try:
            yield
        finally:
            self._release(user_id, lambda held: held.starting.subtract([project_id]))

    def _release(self, user_id: str, undo: Callable[[_Admitted], None]) -> None:
        with self._lock:
            held = self._admitted[user_id]
            undo(held)
            held.starting = +held.starting  # without the ids whose count fell to zero
            if held.idle:
                del self._admitted[user_id]

    def _check_count(self, session: Session, user_id: str, held: _Admitted) -> None:
        if not self._max_projects:
            return
        count = len(projects.owned_ids(session, user_id) | held.new)
        if count >= self._max_projects:
            raise QuotaExceeded(
                f"You have {count} projects, the most one user may have "
                f"(HOSTD_MAX_PROJECTS_PER_USER={self._max_projects}): delete one, or ask "
                "the daemon's operator to raise HOSTD_MAX_PROJECTS_PER_USER")

    def _check_memory(self, session: Session, user_id: str, held: _Admitted,
                      project_id: str, what: str, replicas: int | None = None) -> None:
        """`replicas`: the project's count after a formation change (None: as it is)."""
        if not self._max_memory_mb:
            return
        counts = _replicas_reserving(session, user_id, set(held.starting) | held.new)
        if project_id in counts and replicas is None:
            return  # it reserves already: a redeploy or restart takes nothing more
        own = replicas if replicas is not None else _replicas_of(session, project_id)
        others = sum(n for pid, n in counts.items() if pid != project_id)
        wanted = (others + own) * self._memory_mb
        if wanted > self._max_memory_mb:
            raise QuotaExceeded(
                f"{what} would reserve {wanted} MB of container memory, over your limit "
                f"of {self._max_memory_mb} MB (HOSTD_MAX_MEMORY_MB_PER_USER): each replica "
                f"of a process that runs or is being started reserves {self._memory_mb} MB "
                f"(HOSTD_CONTAINER_MEMORY_MB) and {others} of yours do. Stop, scale "
                "down or delete one, or ask "
                "the daemon's operator to raise HOSTD_MAX_MEMORY_MB_PER_USER")


def reserves_memory(project: Project) -> bool:
    """Whether its container runs or is being started: deploying, running, or crashed and
    waiting for the supervisor to start it again. Not a failed deploy, not a stop."""
    return project.status == ProjectStatus.deploying or supervised(project)


def _replicas_reserving(session: Session, user_id: str, held: set[str]) -> dict[str, int]:
    """The replicas of each project that reserves memory (every process type's, at its
    formation: hostd.store.formation), those admitted and not in the database yet too."""
    counts = {project.id: formation.replica_count(session, project)
              for project in projects.wanted_running(session, user_id)
              if reserves_memory(project)}
    for project_id in held - counts.keys():
        counts[project_id] = _replicas_of(session, project_id)
    return counts


def _replicas_of(session: Session, project_id: str) -> int:
    project = session.get(Project, project_id)
    return formation.replica_count(session, project) if project is not None else 1
