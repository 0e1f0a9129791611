"""The daemon's data plane: the router on its own port.

`running` starts it in the app's lifespan and stops it on the way out; its route table
and request counter are built with the daemon's other services (hostd.services). The
router listens on HOSTD_ROUTER_HOST:HOSTD_ROUTER_PORT (loopback by default; HOST is the
API's alone), either as HOSTD_ROUTER_WORKERS worker processes (`hostd.router.pool`, the
default on a machine with more than one core) or, with HOSTD_ROUTER_WORKERS=1, on the
API's own event loop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from hostd.config import Settings
from hostd.events import EventHub
from hostd.router.counts import RequestCounter
from hostd.router.drain import DrainGate
from hostd.router.limits import ProjectLimits
from hostd.router.pool import WorkerPool
from hostd.router.proxy import Router
from hostd.router.sockets import bind_listener
from hostd.router.table import RouteTable

log = logging.getLogger("hostd.router")


@contextlib.asynccontextmanager
async def running(settings: Settings, routes: RouteTable, requests: RequestCounter,
                  hub: EventHub, drains: DrainGate) -> AsyncIterator[None]:
    """The router, serving until the block ends: worker processes that count into
    `requests` and reload their tables on the hub's events, or in this process on
    `routes`; `drains` counts what it has open to an app."""
    limits = ProjectLimits(settings.router_connections_per_project,
                           settings.router_tunnels_per_project, settings.tunnel_idle_timeout_s)
    if settings.router_workers > 1:
        router = _workers(settings, requests, hub, drains, limits)
    else:
        router = _in_process(settings, routes, requests, drains, limits)
    async with router:
        log.info("router on http://<project>.<handle>.%s:%d (bound to %s, %s)",
                 settings.apps_domain or "localhost", settings.router_port, settings.router_host,
                 f"{settings.router_workers} worker processes"
                 if settings.router_workers > 1 else "in the daemon")
        yield


@contextlib.asynccontextmanager
async def _workers(settings: Settings, requests: RequestCounter, hub: EventHub,
                   drains: DrainGate, limits: ProjectLimits) -> AsyncIterator[None]:
    pool = WorkerPool(settings.router_host, settings.router_port, settings.router_workers,
                      settings.database_uri, requests, limits, settings.apps_domain)
    await pool.start()
    hub.listen(pool.on_event)
    drains.register(pool.in_flight)
    try:
        yield
    finally:
        drains.register(None)
        await pool.stop()


@contextlib.asynccontextmanager
async def _in_process(settings: Settings, routes: RouteTable, requests: RequestCounter,
                      drains: DrainGate, limits: ProjectLimits) -> AsyncIterator[None]:
    router = Router(routes, requests, limits=limits, apps_domain=settings.apps_domain)
    sock = bind_listener(settings.router_host, settings.router_port, reuse_port=False, backlog=2048)
    server = await router.serve(sock)

    async def in_flight(port: int) -> int:
        return router.pool.in_flight(port)

    drains.register(in_flight)
    try:
        yield
    finally:
        drains.register(None)
        await router.shutdown(server)
        sock.close()
