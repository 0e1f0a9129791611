"""The daemon's data plane: the router on its own port, and the metrics collector.

`wire` builds them at app creation (nothing runs yet); `running` starts them in the
app's lifespan and stops them on the way out. The router is a second uvicorn server on
the same event loop as the API, bound to HOST:HOSTD_ROUTER_PORT (loopback by default).
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
        log.info("router on http://<project>.<handle>.localhost:%d (bound to %s)",
                 settings.router_port, settings.host)
        state.collector.start()
        yield
    finally:
        await state.collector.stop()
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
