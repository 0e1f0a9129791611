"""A fair queue of deploy jobs in stages: per-user FIFO, round-robin between users.

A job is walked in *stages*, each run by a worker of that stage's own pool (the deployer
has one pool per kind of step: its own steps, image builds, release phases). Between two
stages a job waits in the queue, holding no worker: a release phase that sleeps holds a
release worker and nothing else, so the other pools serve other users meanwhile.

Rules (pure logic, no engine, thread-safe behind one Condition):

- each user's jobs run in the order they were queued, a new job in the first stage;
- at most one job per user is *active* (running a stage, or waiting between two), so a
  user holds at most one worker of any pool: N pools of sizes s1…sn are held by at most
  s1+…+sn users, and a user with nothing active is served next in every pool;
- a free worker of a stage takes, among the jobs waiting for that stage, the one whose
  user was served least recently (a newcomer first, then whoever waited longest);
- a user may have at most `cap` jobs waiting to start (the active one not counted). A
  slot is *reserved* before the caller stores anything (`reserve`), then filled (`put`)
  or released, so two concurrent requests cannot both squeeze past the cap;
- `remove_project` takes a project's waiting jobs out (delete, redeploy), `withdraw` its
  active job when it waits between stages (a worker would only find it cancelled).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")

START = "deploy"  # the stage a new job starts in
RETRY_MIN_S, RETRY_MAX_S = 1, 300
_EWMA_WEIGHT = 0.3  # recent deploys count most: a slow template shows within a few runs


class QueueFull(Exception):
    """The user already has `cap` jobs waiting."""

    def __init__(self, user_id: str, waiting: int, retry_after_s: int) -> None:
        super().__init__(f"user {user_id} has {waiting} deploys waiting")
        self.user_id = user_id
        self.waiting = waiting
        self.retry_after_s = retry_after_s


@dataclass(eq=False)
class Entry(Generic[T]):
    user_id: str
    project_id: str
    job: T
    seq: int
    started_at: float | None = None
    stage: str = START  # the stage it runs in, or waits for
    in_stage: bool = False  # a worker of `stage` runs it now


@dataclass(eq=False)
class Reservation:
    """One waiting slot held for a user until `put` fills it or `release` frees it;
    as a context manager it is released on exit unless it was filled."""

    queue: FairQueue[Any]
    user_id: str
    open: bool = True

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.queue.release(self)


@dataclass
class _User(Generic[T]):
    waiting: deque[Entry[T]] = field(default_factory=deque)
    reserved: int = 0
    active: Entry[T] | None = None  # started and not done: in a stage or between two

    def idle(self) -> bool:
        return not self.waiting and not self.reserved and self.active is None

    def ready_for(self, stage: str) -> Entry[T] | None:
        """The job this user would run in `stage` now, if any."""
        if self.active is not None:
            ready = self.active.stage == stage and not self.active.in_stage
            return self.active if ready else None
        return self.waiting[0] if stage == START and self.waiting else None


class FairQueue(Generic[T]):
    def __init__(self, cap: int, *, typical_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cap = cap
        self._clock = clock
        self._typical_s = typical_s  # expected length of a deploy, refined as jobs end
        self._cond = threading.Condition()
        self._users: dict[str, _User[T]] = {}
        self._served: dict[str, int] = {}  # user → tick of their last take (0: never)
        self._ticks = itertools.count(1)
        self._seqs = itertools.count()
        self._closed = False

    # --- producers -----------------------------------------------------------------------

    def reserve(self, user_id: str, *, replacing: str | None = None) -> Reservation:
        """Hold a waiting slot for `user_id`, or raise QueueFull. With `replacing`, that
        project's waiting jobs are not counted: the caller is about to remove them."""
        with self._cond:
            user = self._users.setdefault(user_id, _User())
            waiting = user.reserved + sum(1 for e in user.waiting if e.project_id != replacing)
            if waiting >= self.cap:
                raise QueueFull(user_id, waiting, self._retry_after(user))
            user.reserved += 1
            return Reservation(self, user_id)

    def release(self, slot: Reservation) -> None:
        """Free an unfilled reservation (a no-op once filled or released)."""
        with self._cond:
            if slot.open:
                slot.open = False
                user = self._users[slot.user_id]
                user.reserved -= 1
                self._forget_if_idle(slot.user_id)

    def put(self, slot: Reservation, project_id: str, job: T) -> None:
        """Queue `job` in the slot `reserve` gave."""
        with self._cond:
            if not slot.open:
                raise ValueError("this reservation was already used or released")
            slot.open = False
            user = self._users[slot.user_id]
            user.reserved -= 1
            user.waiting.append(Entry(slot.user_id, project_id, job, next(self._seqs)))
            self._cond.notify_all()

    def remove_project(self, project_id: str) -> list[T]:
        """Take the project's waiting jobs out of the queue; they will never run."""
        removed: list[T] = []
        with self._cond:
            for user_id, user in list(self._users.items()):
                keep = deque(e for e in user.waiting if e.project_id != project_id)
                removed += [e.job for e in user.waiting if e.project_id == project_id]
                user.waiting = keep
                self._forget_if_idle(user_id)
        return removed

    # --- workers -------------------------------------------------------------------------

    def take(self, stage: str = START, *, timeout: float | None = None) -> Entry[T] | None:
        """The next job to run in `stage` (its user is then active), or None after
        `timeout` seconds or once the queue is closed."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while not self._closed:
                entry = self._next(stage)
                if entry is not None:
                    return entry
                left = None if deadline is None else deadline - self._clock()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            return None

    def hand_over(self, entry: Entry[T], stage: str) -> None:
        """The job's stage has ended; it waits for a worker of `stage`, holding none."""
        with self._cond:
            entry.stage, entry.in_stage = stage, False
            self._cond.notify_all()

    def done(self, entry: Entry[T]) -> None:
        """The job `take` gave has ended: its user may run the next one."""
        with self._cond:
            user = self._users.get(entry.user_id)
            if user is None or user.active is not entry:
                return
            user.active = None
            if entry.started_at is not None:
                took = max(0.0, self._clock() - entry.started_at)
                self._typical_s += _EWMA_WEIGHT * (took - self._typical_s)
            self._forget_if_idle(entry.user_id)
            self._cond.notify_all()

    def withdraw(self, project_id: str) -> Entry[T] | None:
        """The project's active job, taken out, if it waits between stages (no worker
        runs it): the caller ends it. None when it runs in a stage, or there is none."""
        with self._cond:
            for user_id, user in self._users.items():
                entry = user.active
                if entry is not None and entry.project_id == project_id \
                        and not entry.in_stage:
                    user.active = None
                    self._forget_if_idle(user_id)
                    self._cond.notify_all()
                    return entry
            return None

    def close(self) -> None:
        """Wake every worker; `take` answers None from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # --- questions -----------------------------------------------------------------------

    def running(self, project_id: str) -> T | None:
        """The project's active job (in a stage or between two)."""
        with self._cond:
            for user in self._users.values():
                if user.active is not None and user.active.project_id == project_id:
                    return user.active.job
            return None

    def holds(self, project_id: str) -> bool:
        """Whether a job of the project waits or runs."""
        with self._cond:
            return any(
                (u.active is not None and u.active.project_id == project_id)
                or any(e.project_id == project_id for e in u.waiting)
                for u in self._users.values())

    def in_stage(self, stage: str) -> int:
        """How many jobs a worker of `stage` runs now."""
        with self._cond:
            return sum(1 for u in self._users.values() if u.active is not None
                       and u.active.stage == stage and u.active.in_stage)

    def waiting(self, user_id: str) -> int:
        """The user's waiting jobs and reserved slots."""
        with self._cond:
            user = self._users.get(user_id)
            return 0 if user is None else len(user.waiting) + user.reserved

    # --- inside the lock -----------------------------------------------------------------

    def _next(self, stage: str) -> Entry[T] | None:
        ready = [(self._served.get(uid, 0), entry.seq, uid)
                 for uid, u in self._users.items() if (entry := u.ready_for(stage))]
        if not ready:
            return None
        _, _, user_id = min(ready)
        user = self._users[user_id]
        if user.active is None:  # a new job: it starts here
            entry = user.waiting.popleft()
            entry.started_at, entry.stage = self._clock(), stage
            user.active = entry
        else:
            entry = user.active
        entry.in_stage = True
        self._served[user_id] = next(self._ticks)
        return entry

    def _forget_if_idle(self, user_id: str) -> None:
        user = self._users.get(user_id)
        if user is not None and user.idle():
            del self._users[user_id]

    def _retry_after(self, user: _User[T]) -> int:
        """Seconds until this user's queue may have room: a slot frees when their next
        job starts, i.e. when the job running for them ends (expected at the typical
        deploy length after it started); with nothing running for them, when the first
        running job of anyone ends and frees a worker."""
        now = self._clock()
        running = [u.active for u in self._users.values() if u.active is not None]
        if user.active is not None:
            running = [user.active]
        if not running:
            return RETRY_MIN_S
        soonest = min(self._typical_s - (now - (e.started_at or now)) for e in running)
        return int(min(RETRY_MAX_S, max(RETRY_MIN_S, math.ceil(soonest))))
