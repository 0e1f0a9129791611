"""The router as N worker processes (HOSTD_ROUTER_WORKERS > 1), supervised by the daemon.

Why: the router is CPU-bound, and in the daemon it shares one core (one event loop) with
the API. Here each worker (`hostd.router.worker`) is a process with its own event loop.

The daemon binds one listening socket per worker on HOST:HOSTD_ROUTER_PORT, all with
SO_REUSEPORT, so the kernel spreads new connections across them (one shared socket
would let whichever worker wakes first accept a whole burst). The daemon keeps the
sockets: a taken port fails start-up here with a clear error, and a crashed worker is
restarted on the same socket, so connections queued meanwhile are not lost.

Per worker there is one SOCK_SEQPACKET socket pair: the daemon says `routes` when a
project's status changes, the worker reports its request counts, which the daemon adds
into the RequestCounter that the metrics collector reads, and answers how busy an app
port still is (a replaced container drains before it goes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field

from hostd.events import STATUS_CHANGED, Event
from hostd.router.counts import RequestCounter
from hostd.router.limits import LIMITS_ENV, ProjectLimits
from hostd.router.sockets import bind_listener
from hostd.router.worker import (
    APPS_DOMAIN_ENV,
    DATABASE_ENV,
    LOG_LEVEL_ENV,
    MSG_BUSY,
    MSG_COUNTS,
    MSG_READY,
    MSG_ROUTES,
    decode_busy,
    decode_counts,
    encode_busy,
)

log = logging.getLogger("hostd.router")
STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
SUPERVISE_INTERVAL_S = 0.5
RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # after quick successive crashes
STABLE_AFTER_S = 30.0  # a worker up this long resets the crash backoff
MAX_MESSAGE = 1 << 20
BACKLOG = 2048
BUSY_ANSWER_S = 1.0  # a live worker that has not answered by then counts as busy


def bind_shared(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on one address, in one SO_REUSEPORT group."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(bind_listener(host, port, reuse_port=True, backlog=BACKLOG))
    except RuntimeError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@dataclass
class _Worker:
    index: int
    listen: socket.socket
    process: subprocess.Popen[bytes] | None = None
    control: socket.socket | None = None
    started_at: float = 0.0
    crashes: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class WorkerPool:
    def __init__(self, host: str, port: int, count: int, database_uri: str,
                 counter: RequestCounter, limits: ProjectLimits | None = None,
                 apps_domain: str | None = None) -> None:
        self.host, self.port, self.count = host, port, count
        self.apps_domain = apps_domain
        self.database_uri = database_uri
        self.counter = counter
        self.limits = limits or ProjectLimits()  # each worker counts against them alone
        self._workers: list[_Worker] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._seq = 0
        self._asked: dict[int, asyncio.Future[int]] = {}

    async def start(self) -> None:
        sockets = bind_shared(self.host, self.port, self.count)
        self._workers = [_Worker(i, sock) for i, sock in enumerate(sockets)]
        try:
            for worker in self._workers:
                self._spawn(worker)
            async with asyncio.timeout(STARTUP_TIMEOUT_S):
                for worker in self._workers:
                    await self._until_ready(worker)
        except BaseException:
            await self.stop()
            raise
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(), name="router-workers")

    def on_event(self, event: Event) -> None:
        """Hub listener: tell every worker to reload its route table."""
        if event.name != STATUS_CHANGED:
            return
        for worker in self._workers:
            if worker.control is not None:
                # Sent before the API answers (the hub delivers on this loop first), so a
                # request made after `stop` returns finds the worker's table stale.
                with contextlib.suppress(OSError):
                    worker.control.send(MSG_ROUTES)

    async def in_flight(self, port: int) -> int:
        """Exchanges and tunnels to `port` open in all workers; each worker has taken in
        every `routes` sent before this (see hostd.router.worker)."""
        loop = asyncio.get_running_loop()
        asked: list[asyncio.Future[int]] = []
        for worker in self._workers:
            if worker.control is None:
                continue  # exited: its connections went with it
            self._seq += 1
            future: asyncio.Future[int] = loop.create_future()
            self._asked[self._seq] = future
            try:
                worker.control.send(encode_busy(self._seq, port))
            except OSError:
                self._asked.pop(self._seq)
                continue
            asked.append(future)
        try:
            done, pending = await asyncio.wait(asked, timeout=BUSY_ANSWER_S) if asked \
                else (set(), set())
            return sum(f.result() for f in done) + len(pending)
        finally:
            for future in asked:
                future.cancel()
            self._asked = {k: f for k, f in self._asked.items() if not f.done()}

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        for worker in self._workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.terminate()
        for worker in self._workers:
            await self._reap(worker)
            worker.listen.close()

    async def _until_ready(self, worker: _Worker) -> None:
        while not worker.ready.is_set():
            process = worker.process
            if process is None or process.poll() is not None:
                raise RuntimeError(f"router worker {worker.index} exited during start-up")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await worker.ready.wait()

    def _spawn(self, worker: _Worker) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**os.environ, DATABASE_ENV: self.database_uri, LIMITS_ENV: self.limits.encode(),
               LOG_LEVEL_ENV: logging.getLevelName(logging.getLogger().getEffectiveLevel()),
               APPS_DOMAIN_ENV: self.apps_domain or ""}
        try:
            # A session of its own: a Ctrl-C at the terminal reaches the daemon only,
            # which then stops the workers itself, in order.
            worker.process = subprocess.Popen(
                [sys.executable, "-m", "hostd.router.worker", str(worker.listen.fileno()),
                 str(theirs.fileno())],
                pass_fds=(worker.listen.fileno(), theirs.fileno()), env=env,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            theirs.close()  # only the worker holds it: our exit is its end-of-file
        ours.setblocking(False)
        worker.control = ours
        worker.ready.clear()
        loop = asyncio.get_running_loop()
        worker.started_at = loop.time()
        loop.add_reader(ours.fileno(), self._on_message, worker, ours)

    def _on_message(self, worker: _Worker, sock: socket.socket) -> None:
        try:
            message = sock.recv(MAX_MESSAGE)
        except BlockingIOError:
            return
        except OSError:
            message = b""
        if not message:  # the worker exited; the supervisor restarts it
            self._close_control(worker, sock)
        elif message == MSG_READY:
            worker.ready.set()
        elif message.startswith(MSG_BUSY):
            with contextlib.suppress(ValueError):
                seq, value = decode_busy(message)
                future = self._asked.pop(seq, None)
                if future is not None and not future.done():
                    future.set_result(value)
        elif message.startswith(MSG_COUNTS):
            try:
                counts = decode_counts(message)
            except (ValueError, TypeError):
                log.warning("router worker %d sent unreadable counts", worker.index)
                return
            for project_id, started, n in counts:
                self.counter.add(project_id, started, n)

    def _close_control(self, worker: _Worker, sock: socket.socket) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()
        if worker.control is sock:
            worker.control = None

    async def _reap(self, worker: _Worker) -> None:
        process = worker.process
        if process is not None:
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        # Read what is left (its last counts) before closing our end.
        sock = worker.control
        if sock is not None:
            for _ in range(10_000):  # bounded: never spin on a socket that stays open
                if worker.control is not sock:
                    break
                self._on_message(worker, sock)
            else:
                self._close_control(worker, sock)

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SUPERVISE_INTERVAL_S)
            for worker in self._workers:
                process = worker.process
                if process is None or process.poll() is None or self._stopping:
                    continue
                await self._reap(worker)
                uptime = loop.time() - worker.started_at
                worker.crashes = 1 if uptime > STABLE_AFTER_S else worker.crashes + 1
                delay = RESTART_DELAYS_S[min(worker.crashes, len(RESTART_DELAYS_S)) - 1]
                log.warning("router worker %d (pid %d) exited with %s; restarting in %.1f s",
                            worker.index, process.pid, process.returncode, delay)
                await asyncio.sleep(delay)
                if not self._stopping:
                    self._spawn(worker)
