"""Changes that wait for an app (start, stop, restart, a config change or a rollback of a
running project) run on threads of their own, never on the API's.

Each may wait up to HOSTD_DEPLOY_TIMEOUT for the app to answer. On the API's thread pool
forty of them would stall every other route for everyone; here they take at most
HOSTD_CHANGE_THREADS threads, at most HOSTD_CHANGES_PER_USER of them one user's, and the
rest wait their turn on the event loop, holding no thread. One such change per project
at a time: a second one while the first runs is a 409, at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

import anyio

from hostd.errors import Conflict

P = ParamSpec("P")
T = TypeVar("T")


class ChangeRunner:
    def __init__(self, threads: int, per_user: int) -> None:
        self._threads = threads
        self._per_user = per_user
        self._pool: anyio.CapacityLimiter | None = None  # made on the loop, at first use
        self._users: dict[str, anyio.CapacityLimiter] = {}
        self._busy: set[str] = set()  # projects with a change under way (loop only)

    def busy(self, project_id: str) -> bool:
        return project_id in self._busy

    async def run(self, project_id: str, user_id: str, what: str, fn: Callable[P, T], /,
                  *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the changes' pool (typed: mypy checks the arguments
        against `fn`); Conflict (409) when the project is mid-change."""
        if project_id in self._busy:
            raise Conflict(f"{what} is already being changed (started, stopped, restarted "
                           "or given new config): try again once that is done")
        self._busy.add(project_id)
        try:
            async with self._user_limit(user_id):
                return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs),
                                                      limiter=self._shared())
        finally:
            self._busy.discard(project_id)
            self._forget_idle(user_id)

    def _shared(self) -> anyio.CapacityLimiter:
        if self._pool is None:
            self._pool = anyio.CapacityLimiter(self._threads)
        return self._pool

    def _user_limit(self, user_id: str) -> anyio.CapacityLimiter:
        limiter = self._users.get(user_id)
        if limiter is None:
            limiter = self._users[user_id] = anyio.CapacityLimiter(self._per_user)
        return limiter

    def _forget_idle(self, user_id: str) -> None:
        limiter = self._users.get(user_id)
        if limiter is not None:
            stats = limiter.statistics()
            if stats.borrowed_tokens == 0 and stats.tasks_waiting == 0:
                del self._users[user_id]
