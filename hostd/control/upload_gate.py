"""Source uploads in progress (`PUT /api/projects/:id/source`), per user and in all.

A user has at most HOSTD_UPLOADS_PER_USER uploads in progress (the next is a 429
`RateLimited`, before its body is read) and at most HOSTD_UPLOAD_STAGING_MB_PER_USER
bytes of them staged on disk at once (413 past it). Archive checks run on threads of
their own (HOSTD_UPLOAD_THREADS), never on the pool the API's other blocking work uses:
a slow archive waits for one of them, it does not take a thread from a login. An upload
keeps its slot until its check has ended, even when its client has gone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from hostd.errors import PayloadTooLarge, RateLimited

T = TypeVar("T")
RETRY_AFTER_S = 5  # a guess a client can retry on: most checks take well under that


class Upload:
    """One upload's slot and staged bytes; released when the route and every check it
    started have ended."""

    def __init__(self, gate: UploadGate, user_id: str) -> None:
        self._gate, self.user_id = gate, user_id
        self.staged = 0
        self._holders = 1  # the route; a check running on the pool holds one more

    def stage(self, size: int) -> None:
        """Count `size` more bytes staged; PayloadTooLarge past the user's cap."""
        self._gate._stage(self, size)

    async def run(self, work: Callable[[], T]) -> T:
        """`work` on the upload threads; the slot stays held until it has ended."""
        future = self._gate._submit(self, work)
        return await asyncio.wrap_future(future)

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *_: object) -> None:
        self._gate._release(self)


class UploadGate:
    def __init__(self, threads: int, per_user: int, staging_bytes_per_user: int) -> None:
        self.per_user, self.staging_cap = per_user, staging_bytes_per_user
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None  # threads start at first use
        self._lock = threading.Lock()
        self._open: dict[str, list[Upload]] = {}

    def admit(self, user_id: str) -> Upload:
        """A slot for one more upload of `user_id`, or RateLimited."""
        with self._lock:
            mine = self._open.setdefault(user_id, [])
            if len(mine) >= self.per_user:
                raise RateLimited(
                    f"You already have {len(mine)} upload{'s' * (len(mine) > 1)} in "
                    f"progress, the most one user may (HOSTD_UPLOADS_PER_USER="
                    f"{self.per_user}): try again once it has been checked",
                    retry_after=RETRY_AFTER_S)
            upload = Upload(self, user_id)
            mine.append(upload)
            return upload

    def _stage(self, upload: Upload, size: int) -> None:
        with self._lock:
            upload.staged += size
            total = sum(u.staged for u in self._open.get(upload.user_id, []))
        if total > self.staging_cap:
            raise PayloadTooLarge(
                f"your uploads in progress hold more than {self.staging_cap // 2**20} MB "
                "(HOSTD_UPLOAD_STAGING_MB_PER_USER)")

    def _submit(self, upload: Upload, work: Callable[[], T]) -> Future[T]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="upload")
            upload._holders += 1
            pool = self._pool
        future = pool.submit(work)
        future.add_done_callback(lambda _: self._release(upload))
        return future

    def _release(self, upload: Upload) -> None:
        with self._lock:
            upload._holders -= 1
            if upload._holders:
                return
            mine = self._open.get(upload.user_id, [])
            if upload in mine:
                mine.remove(upload)
            if not mine:
                self._open.pop(upload.user_id, None)

    def close(self) -> None:
        """Stop the threads (a check under way runs to its deadline)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
