"""The data plane: a reverse proxy from `{name}.{handle}.localhost` to the project's container.

An ASGI app served by its own uvicorn server in the daemon (see `hostd.dataplane`).
HTTP goes upstream through one shared `aiohttp.ClientSession` (a keep-alive pool), with
both bodies streamed chunk by chunk; WebSocket upgrades are passed through by
`hostd.router_ws`. The app's answer is the user's answer: only when no app can answer
does the router speak itself, with a small HTML page (404 unknown host, 503 project not
running, 502/504 app not answering). Every request an app answers is counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp
import anyio
from multidict import CIMultiDict
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from hostd.router_pages import page, send_page
from hostd.router_ws import proxy_websocket, refuse_websocket
from hostd.routetable import Route, RouteTable, parse_host

# Per connection, never forwarded (RFC 9110 7.6.1); `host` is kept as the client sent it.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
    b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
FORWARDED = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})
SMALL_BODY_BYTES = 64 * 1024
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=300.0)
# What the client library would add on its own: the app gets the client's headers only.
NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class Hits(Protocol):
    """Where the router counts answered requests: the daemon's counter, or a worker's."""

    def hit(self, project_id: str, started: str) -> None: ...


class ClientGone(Exception):
    """The client disconnected while its request body was being read."""


def new_upstream_client() -> aiohttp.ClientSession:
    """The shared upstream pool; call inside the running event loop.

    aiohttp rather than httpx here: measured on this machine, httpx's connection pool
    served ~250 proxied req/s at 32 concurrent connections, aiohttp's ~3,800.
    No proxy from the environment (trust_env off): traffic to 127.0.0.1 stays direct.
    """
    connector = aiohttp.TCPConnector(limit=1000, limit_per_host=0, keepalive_timeout=30.0)
    return aiohttp.ClientSession(connector=connector, timeout=UPSTREAM_TIMEOUT,
                                 auto_decompress=False, trust_env=False,
                                 skip_auto_headers=NO_AUTO_HEADERS)


def not_running_detail(route: Route) -> str:
    detail = f"The project {route.name} is {route.status}, so it cannot answer right now."
    return f"{detail} Reason: {route.reason}" if route.reason else detail


def forwarded_headers(scope: Scope, host: str) -> list[tuple[bytes, bytes]]:
    """The client's headers minus hop-by-hop ones, plus X-Forwarded-For/-Proto/-Host."""
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    named_in_connection = set()
    for name, value in raw:
        if name == b"connection":
            named_in_connection |= {v.strip().lower() for v in value.split(b",")}
    prior_for = b", ".join(v for n, v in raw if n == b"x-forwarded-for")
    client = (scope.get("client") or ("unknown", 0))[0].encode()
    kept = [(n, v) for n, v in raw
            if n not in HOP_BY_HOP and n not in FORWARDED and n not in named_in_connection]
    kept += [
        (b"x-forwarded-for", prior_for + b", " + client if prior_for else client),
        (b"x-forwarded-proto", scope.get("scheme", "http").encode()),
        (b"x-forwarded-host", host.encode()),
    ]
    return kept


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body", False):
            return


async def _until_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    # The request body is fully read by now, so the next message is the disconnect.
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


class Router:
    """The ASGI proxy app. `client` is the shared upstream pool; the caller closes it."""

    def __init__(self, table: RouteTable, counter: Hits,
                 client: aiohttp.ClientSession) -> None:
        self.table = table
        self.counter = counter
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return  # lifespan: the daemon's own lifespan owns start-up and shutdown
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        found = await self._resolve(host)
        if isinstance(found, Route):
            if scope["type"] == "websocket":
                if await proxy_websocket(scope, receive, send, found, host):
                    self.counter.hit(found.project_id, found.started)
            else:
                await self._proxy(scope, receive, send, found, host)
            return
        status, title, detail = found
        if scope["type"] == "websocket":
            await refuse_websocket(scope, send, status, page(status, title, detail))
        else:
            await send_page(send, status, title, detail)

    async def _resolve(self, host: str) -> Route | tuple[int, str, str]:
        key = parse_host(host)
        route = await self.table.lookup(*key) if key else None
        if route is None:
            return 404, "No such project", (
                f"Nothing is deployed at {host or 'this address'}. Project URLs look like "
                "http://<project>.<handle>.localhost:<port>/.")
        if not route.serving:
            return 503, f"{route.name} is {route.status}", not_running_detail(route)
        return route

    async def _proxy(self, scope: Scope, receive: Receive, send: Send, route: Route,
                     host: str) -> None:
        try:
            response = await self._send_upstream(scope, receive, route, host)
        except ClientGone:
            return
        except TimeoutError:
            await send_page(send, 504, "The app did not answer in time",
                            f"{route.name} took too long to answer this request.")
            return
        except aiohttp.ClientError as exc:
            await send_page(send, 502, "The app is not answering",
                            f"{route.name} could not be reached ({type(exc).__name__}).")
            return
        self.counter.hit(route.project_id, route.started)
        try:
            await self._relay(response, receive, send)
        finally:
            response.release()

    async def _send_upstream(self, scope: Scope, receive: Receive, route: Route,
                             host: str) -> aiohttp.ClientResponse:
        try:
            return await self._request(scope, receive, route, host)
        except aiohttp.ClientConnectorError:
            # Nothing was sent: the container may have restarted on a new port since the
            # table was loaded. Look again, and retry once if it moved.
            self.table.invalidate()
            key = parse_host(host)
            fresh = await self.table.lookup(*key) if key else None
            if fresh is None or not fresh.serving or fresh.host_port == route.host_port:
                raise
            return await self._request(scope, receive, fresh, host)

    async def _request(self, scope: Scope, receive: Receive, route: Route,
                       host: str) -> aiohttp.ClientResponse:
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        # encoded=True: the path and query go upstream byte for byte as the client sent them.
        url = URL(f"http://127.0.0.1:{route.host_port}{target.decode('latin-1')}", encoded=True)
        headers = CIMultiDict((n.decode("latin-1"), v.decode("latin-1"))
                              for n, v in forwarded_headers(scope, host))
        body = _request_body(receive) if _has_body(scope) else None
        return await self.client.request(scope["method"], url, headers=headers, data=body,
                                         allow_redirects=False, compress=None)

    @staticmethod
    async def _relay(response: aiohttp.ClientResponse, receive: Receive, send: Send) -> None:
        headers = [(n, v) for n, v in response.raw_headers if n.lower() not in HOP_BY_HOP]
        start: Message = {"type": "http.response.start", "status": response.status,
                          "headers": headers}
        await send(start)
        length = response.content_length
        if length is not None and length <= SMALL_BODY_BYTES:
            # One socket read's worth: send it whole, with no disconnect watcher (a task
            # group per request was a sixth of the router's CPU for small files).
            await send({"type": "http.response.body", "body": await response.read()})
            return
        # A streaming app (SSE, long downloads) must stop when its client goes away.
        async with anyio.create_task_group() as group:
            group.start_soon(_until_disconnect, receive, group.cancel_scope)
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            group.cancel_scope.cancel()
