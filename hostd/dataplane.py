"""The daemon's data plane: the router on its own port, and the metrics collector.

`wire` builds them at app creation (nothing runs yet); `running` starts them in the
app's lifespan and stops them on the way out. The router listens on
HOST:HOSTD_ROUTER_PORT (loopback by default), either as HOSTD_ROUTER_WORKERS worker
processes (`hostd.routerpool`, the default on a machine with more than one core) or,
with HOSTD_ROUTER_WORKERS=1, as a second uvicorn server on the API's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn

from hostd.metrics import MetricsCollector, RequestCounter
from hostd.router import Router, new_upstream_client
from hostd.routerpool import WorkerPool
from hostd.routetable import RouteTable

log = logging.getLogger("hostd.router")
STARTUP_TIMEOUT_S = 10.0


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside a running app: the outer server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def wire(state: Any) -> None:
    """Build the route table, request counter and collector on `app.state`."""
    settings = state.settings
    state.requests = RequestCounter()
    state.routes = RouteTable(state.db_engine)
    state.hub.listen(state.routes.on_event)
    state.collector = MetricsCollector(state.db_engine, state.docker, state.hub, state.metrics,
                                       state.requests, settings.metrics_interval_s)


def _bind(host: str, port: int) -> socket.socket:
    # Bound here, not by uvicorn, so a taken port stops start-up with a clear error
    # (uvicorn would call sys.exit from inside the app's lifespan).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"the router cannot listen on {host}:{port}: {exc.strerror}; "
                           "set HOSTD_ROUTER_PORT") from None
    return sock


@contextlib.asynccontextmanager
async def running(state: Any) -> AsyncIterator[None]:
    settings = state.settings
    router = _workers if settings.router_workers > 1 else _in_process
    async with router(state):
        log.info("router on http://<project>.<handle>.localhost:%d (bound to %s, %s)",
                 settings.router_port, settings.host,
                 f"{settings.router_workers} worker processes"
                 if settings.router_workers > 1 else "in the daemon")
        state.collector.start()
        try:
            yield
        finally:
            await state.collector.stop()


@contextlib.asynccontextmanager
async def _workers(state: Any) -> AsyncIterator[None]:
    settings = state.settings
    pool = WorkerPool(settings.host, settings.router_port, settings.router_workers,
                      settings.database_uri, state.requests)
    await pool.start()
    state.hub.listen(pool.on_event)
    try:
        yield
    finally:
        await pool.stop()


@contextlib.asynccontextmanager
async def _in_process(state: Any) -> AsyncIterator[None]:
    settings = state.settings
    client = new_upstream_client()
    config = uvicorn.Config(
        Router(state.routes, state.requests, client), lifespan="off", log_config=None,
        access_log=False, proxy_headers=False, server_header=False, date_header=False,
    )
    server = _EmbeddedServer(config)
    sock = _bind(settings.host, settings.router_port)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="router")
    try:
        await _wait_started(server, task)
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
        server.force_exit = True
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        sock.close()


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_S
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the router stopped during start-up")
        if loop.time() > deadline:
            raise RuntimeError("the router did not start in time")
        await asyncio.sleep(0.01)
