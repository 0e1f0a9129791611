"""The data plane: a reverse proxy from `{name}.{handle}.localhost` to the project's container.

An ASGI app served by its own uvicorn server in the daemon (see `hostd.dataplane`).
HTTP goes upstream through one shared `httpx.AsyncClient` (a keep-alive pool), with
both bodies streamed chunk by chunk; WebSocket upgrades are passed through by
`hostd.router_ws`. The app's answer is the user's answer: only when no app can answer
does the router speak itself, with a small HTML page (404 unknown host, 503 project not
running, 502/504 app not answering). Every request an app answers is counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
from starlette.types import Message, Receive, Scope, Send

from hostd.metrics import RequestCounter
from hostd.router_pages import page, send_page
from hostd.router_ws import proxy_websocket, refuse_websocket
from hostd.routetable import Route, RouteTable, parse_host

# Per connection, never forwarded (RFC 9110 7.6.1); `host` is kept as the client sent it.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization",
    b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
FORWARDED = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})
UPSTREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=300.0, write=60.0, pool=30.0)
UPSTREAM_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=256,
                               keepalive_expiry=30.0)


class ClientGone(Exception):
    """The client disconnected while its request body was being read."""


def new_upstream_client() -> httpx.AsyncClient:
    # trust_env=False: an HTTP(S)_PROXY in the daemon's environment must not catch
    # traffic meant for 127.0.0.1.
    return httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, limits=UPSTREAM_LIMITS,
                             trust_env=False, follow_redirects=False)


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

    def __init__(self, table: RouteTable, counter: RequestCounter,
                 client: httpx.AsyncClient) -> None:
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
        except httpx.TimeoutException:
            await send_page(send, 504, "The app did not answer in time",
                            f"{route.name} took too long to answer this request.")
            return
        except httpx.TransportError as exc:
            await send_page(send, 502, "The app is not answering",
                            f"{route.name} could not be reached ({type(exc).__name__}).")
            return
        self.counter.hit(route.project_id, route.started)
        try:
            await self._relay(response, receive, send)
        finally:
            await response.aclose()

    async def _send_upstream(self, scope: Scope, receive: Receive, route: Route,
                             host: str) -> httpx.Response:
        try:
            return await self.client.send(self._request(scope, receive, route, host),
                                          stream=True)
        except httpx.ConnectError:
            # Nothing was sent: the container may have restarted on a new port since the
            # table was loaded. Look again, and retry once if it moved.
            self.table.invalidate()
            key = parse_host(host)
            fresh = await self.table.lookup(*key) if key else None
            if fresh is None or not fresh.serving or fresh.host_port == route.host_port:
                raise
            return await self.client.send(self._request(scope, receive, fresh, host),
                                          stream=True)

    @staticmethod
    def _request(scope: Scope, receive: Receive, route: Route, host: str) -> httpx.Request:
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        url = httpx.URL(scheme="http", host="127.0.0.1", port=route.host_port, raw_path=target)
        body = _request_body(receive) if _has_body(scope) else None
        # A Request, not client.build_request: no client default headers are added.
        return httpx.Request(scope["method"], url, headers=forwarded_headers(scope, host),
                             content=body)

    @staticmethod
    async def _relay(response: httpx.Response, receive: Receive, send: Send) -> None:
        headers = [(n, v) for n, v in response.headers.raw if n.lower() not in HOP_BY_HOP]
        start: Message = {"type": "http.response.start", "status": response.status_code,
                          "headers": headers}
        await send(start)
        # A streaming app (SSE, long downloads) must stop when its client goes away.
        async with anyio.create_task_group() as group:
            group.start_soon(_until_disconnect, receive, group.cancel_scope)
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            group.cancel_scope.cancel()
