"""One router worker process: `python -m hostd.router.worker LISTEN_FD CONTROL_FD`.

Started by `hostd.router.pool` in the daemon, never by hand. It serves the router app on
the listening socket it inherits (one of the router port's SO_REUSEPORT group), with a
route table of its own on the daemon's database, and talks to the daemon over the
inherited control socket (SOCK_SEQPACKET, one message per send):

* daemon → worker `routes`: a project's status changed; reload the table before the
  next request (so a stopped project answers 503 as soon as `stop` returns).
* worker → daemon `ready` once it serves, then `counts[...]` with the requests it
  counted since the last report, every FLUSH_INTERVAL_S.
* daemon → worker `busy:SEQ:PORT`, worker → daemon `busy:SEQ:N`: how many exchanges and
  tunnels the worker has open to an app port. Messages are handled in order, so the
  answer also says every `routes` sent before it has been taken in.

Its caps per project (`hostd.router.limits`) come in HOSTD_ROUTER_LIMITS, counted by the
worker alone.

The control socket reaching end-of-file means the daemon is gone (even by SIGKILL: the
kernel closes its end), and the worker then exits: it is never left orphaned on the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

from hostd import logs
from hostd.router.counts import PendingCounts
from hostd.router.fdlimit import raise_open_files_limit
from hostd.router.limits import LIMITS_ENV, ProjectLimits
from hostd.router.proxy import Router
from hostd.router.table import RouteTable
from hostd.store import db

log = logging.getLogger("hostd.router")
DATABASE_ENV = "HOSTD_ROUTER_DATABASE_URI"  # set by the daemon for its workers only
ROUTER_DB_THREADS = 2
LOG_LEVEL_ENV = "HOSTD_ROUTER_LOG_LEVEL"
APPS_DOMAIN_ENV = "HOSTD_ROUTER_APPS_DOMAIN"  # the daemon's HOSTD_APPS_DOMAIN, checked
MSG_ROUTES = b"routes"
MSG_READY = b"ready"
MSG_COUNTS = b"counts"
MSG_BUSY = b"busy:"
# Under the collector's shortest interval (0.2 s is its floor, 1 s in tests, 4 s by
# default), so a metrics sample lags the requests by at most this much.
FLUSH_INTERVAL_S = 0.2
ORPHAN_EXIT_S = 3.0  # after the daemon is gone, at most this long to finish requests


def encode_counts(counts: list[tuple[str, str, int]]) -> bytes:
    return MSG_COUNTS + json.dumps(counts, separators=(",", ":")).encode()


def decode_counts(message: bytes) -> list[tuple[str, str, int]]:
    return [(str(p), str(s), int(n)) for p, s, n in json.loads(message[len(MSG_COUNTS):])]


def encode_busy(seq: int, value: int) -> bytes:
    return MSG_BUSY + f"{seq}:{value}".encode()


def decode_busy(message: bytes) -> tuple[int, int]:
    seq, value = message[len(MSG_BUSY):].split(b":")
    return int(seq), int(value)


class _Control:
    """The worker's end of the control socket."""

    def __init__(self, sock: socket.socket, table: RouteTable, counts: PendingCounts,
                 stop: asyncio.Event, in_flight: Callable[[int], int]) -> None:
        self.sock, self.table, self.counts, self.stop = sock, table, counts, stop
        self.in_flight = in_flight
        sock.setblocking(False)

    def on_readable(self) -> None:
        try:
            message = self.sock.recv(64)
        except BlockingIOError:
            return
        except OSError:
            message = b""
        if message == MSG_ROUTES:
            self.table.invalidate()
        elif message.startswith(MSG_BUSY):
            with contextlib.suppress(ValueError):
                seq, port = decode_busy(message)
                self.send(encode_busy(seq, self.in_flight(port)))
        elif not message:
            self._orphaned()

    def _orphaned(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.sock.fileno())
        log.warning("router worker %d: the daemon is gone; exiting", os.getpid())
        self.stop.set()
        loop.call_later(ORPHAN_EXIT_S, os._exit, 0)  # open connections must not keep us

    def send(self, message: bytes) -> bool:
        try:
            self.sock.send(message)
        except BlockingIOError:
            return False  # the daemon is busy: keep the counts for the next report
        except OSError:
            return True  # the daemon is gone: nobody to tell
        return True

    def flush(self) -> None:
        counts = self.counts.drain()
        if counts and not self.send(encode_counts(counts)):
            self.counts.restore(counts)

    async def flush_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.flush()


async def serve(listen: socket.socket, control_sock: socket.socket, database_uri: str,
                limits: ProjectLimits | None = None, apps_domain: str | None = None) -> None:
    # One route-table reload at a time (it holds a lock): a worker needs two connections.
    engine = db.make_engine(database_uri, threads=ROUTER_DB_THREADS)
    table = RouteTable(engine)
    counts = PendingCounts()
    router = Router(table, counts, limits=limits, apps_domain=apps_domain)
    stop = asyncio.Event()
    control = _Control(control_sock, table, counts, stop, router.pool.in_flight)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGTERM from the daemon: finish, exit
        loop.add_signal_handler(signum, stop.set)
    loop.add_reader(control_sock.fileno(), control.on_readable)
    flusher = loop.create_task(control.flush_every(FLUSH_INTERVAL_S))
    try:
        server = await router.serve(listen)
        control.send(MSG_READY)
        await stop.wait()
        await router.shutdown(server)
    finally:
        flusher.cancel()
        control.flush()  # what was counted before SIGTERM still reaches the daemon
        with contextlib.suppress(Exception):
            loop.remove_reader(control_sock.fileno())
        engine.dispose()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    # The loop uvicorn picks for the daemon itself: uvloop when it is installed.
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str]) -> None:
    listen_fd, control_fd = int(argv[0]), int(argv[1])
    logs.configure(os.environ.get(LOG_LEVEL_ENV, "INFO"))
    raise_open_files_limit()  # inherited from `hostd serve` already; also when run alone
    listen = socket.socket(fileno=listen_fd)
    control = socket.socket(fileno=control_fd)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(listen, control, os.environ[DATABASE_ENV],
                         ProjectLimits.decode(os.environ.get(LIMITS_ENV)),
                         os.environ.get(APPS_DOMAIN_ENV) or None))


if __name__ == "__main__":
    main(sys.argv[1:])
