"""A fair queue of deploy jobs: per-user FIFO, round-robin between users.

Rules (pure logic, no engine, thread-safe behind one Condition):

- each user's jobs run in the order they were queued;
- at most one job per user runs at a time: a free worker takes the next job of the
  user served least recently among those with nothing running (a newcomer first, then
  whoever waited longest), so one user's backlog never stalls the others;
- a user may have at most `cap` jobs waiting (the running one not counted). A slot is
  *reserved* before the caller stores anything (`reserve`), then filled (`put`) or
  released, so two concurrent requests cannot both squeeze past the cap;
- `remove_project` takes a project's waiting jobs out (delete, redeploy).
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
    running: Entry[T] | None = None

    def idle(self) -> bool:
        return not self.waiting and not self.reserved and self.running is None


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

    def take(self, timeout: float | None = None) -> Entry[T] | None:
        """The next job to run (its user is then running), or None after `timeout`
        seconds or once the queue is closed."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while not self._closed:
                entry = self._next()
                if entry is not None:
                    return entry
                left = None if deadline is None else deadline - self._clock()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            return None

    def done(self, entry: Entry[T]) -> None:
        """The job `take` gave has ended: its user may run the next one."""
        with self._cond:
            user = self._users.get(entry.user_id)
            if user is None or user.running is not entry:
                return
            user.running = None
            if entry.started_at is not None:
                took = max(0.0, self._clock() - entry.started_at)
                self._typical_s += _EWMA_WEIGHT * (took - self._typical_s)
            self._forget_if_idle(entry.user_id)
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every worker; `take` answers None from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # --- questions -----------------------------------------------------------------------

    def running(self, project_id: str) -> T | None:
        with self._cond:
            for user in self._users.values():
                if user.running is not None and user.running.project_id == project_id:
                    return user.running.job
            return None

    def holds(self, project_id: str) -> bool:
        """Whether a job of the project waits or runs."""
        with self._cond:
            return any(
                (u.running is not None and u.running.project_id == project_id)
                or any(e.project_id == project_id for e in u.waiting)
                for u in self._users.values())

    def waiting(self, user_id: str) -> int:
        """The user's waiting jobs and reserved slots."""
        with self._cond:
            user = self._users.get(user_id)
            return 0 if user is None else len(user.waiting) + user.reserved

    # --- inside the lock -----------------------------------------------------------------

    def _next(self) -> Entry[T] | None:
        ready = [(self._served.get(uid, 0), u.waiting[0].seq, uid)
                 for uid, u in self._users.items() if u.running is None and u.waiting]
        if not ready:
            return None
        _, _, user_id = min(ready)
        user = self._users[user_id]
        entry = user.waiting.popleft()
        entry.started_at = self._clock()
        user.running = entry
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
        running = [u.running for u in self._users.values() if u.running is not None]
        if user.running is not None:
            running = [user.running]
        if not running:
            return RETRY_MIN_S
        soonest = min(self._typical_s - (now - (e.started_at or now)) for e in running)
        return int(min(RETRY_MAX_S, max(RETRY_MIN_S, math.ceil(soonest))))
