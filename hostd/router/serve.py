"""The daemon's data plane: the router on its own port, and the metrics collector.

`wire` builds them at app creation (nothing runs yet); `running` starts them in the
app's lifespan and stops them on the way out. The router listens on
HOST:HOSTD_ROUTER_PORT (loopback by default), either as HOSTD_ROUTER_WORKERS worker
processes (`hostd.router.pool`, the default on a machine with more than one core) or,
with HOSTD_ROUTER_WORKERS=1, on the API's own event loop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from hostd.control.metrics import MetricsCollector
from hostd.router.counts import RequestCounter
from hostd.router.pool import WorkerPool
from hostd.router.proxy import Router
from hostd.router.sockets import bind_listener
from hostd.router.table import RouteTable

log = logging.getLogger("hostd.router")


def wire(state: Any) -> None:
    """Build the route table, request counter and collector on `app.state`."""
    settings = state.settings
    state.requests = RequestCounter()
    state.routes = RouteTable(state.db_engine)
    state.hub.listen(state.routes.on_event)
    state.collector = MetricsCollector(state.db_engine, state.docker, state.hub, state.metrics,
                                       state.requests, settings.metrics_interval_s)


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
    router = Router(state.routes, state.requests)
    sock = bind_listener(settings.host, settings.router_port, reuse_port=False, backlog=2048)
    server = await router.serve(sock)
    try:
        yield
    finally:
        await router.shutdown(server)
        sock.close()
