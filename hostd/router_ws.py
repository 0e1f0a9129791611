"""WebSocket pass-through: the router accepts the client's upgrade, opens one to the app.

Messages are relayed as they come, text as text and bytes as bytes, both ways; when
either side closes, the other is closed with the same code. The app chooses the
subprotocol (the client's list is offered to it), and sees the client's cookies,
authorization and origin, plus X-Forwarded-For/-Proto/-Host.
"""

from __future__ import annotations

import contextlib

import anyio
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from hostd.router_pages import Page, page
from hostd.routetable import Route

# The handshake's own headers are made anew by the client library.
_NOT_FORWARDED = frozenset({
    b"host", b"connection", b"upgrade", b"sec-websocket-key", b"sec-websocket-version",
    b"sec-websocket-extensions", b"sec-websocket-protocol", b"x-forwarded-for",
    b"x-forwarded-proto", b"x-forwarded-host", b"keep-alive", b"te", b"transfer-encoding",
})
OPEN_TIMEOUT_S = 10.0


def _headers(scope: Scope, host: str) -> list[tuple[str, str]]:
    kept = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]
            if n not in _NOT_FORWARDED]
    client = (scope.get("client") or ("unknown", 0))[0]
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return [*kept, ("X-Forwarded-For", client), ("X-Forwarded-Proto", scheme),
            ("X-Forwarded-Host", host)]


async def refuse_websocket(scope: Scope, send: Send, status: int,
                           answer: Page) -> None:
    """Answer an upgrade with an HTTP error page where the server allows it, else close."""
    if "websocket.http.response" in scope.get("extensions", {}):
        headers, body = answer
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1011})


async def proxy_websocket(scope: Scope, receive: Receive, send: Send, route: Route,
                          host: str) -> bool:
    """Relay one WebSocket session; True when the app accepted it."""
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    url = f"ws://127.0.0.1:{route.host_port}{target.decode('latin-1')}"
    if (await receive())["type"] != "websocket.connect":
        return False
    try:
        upstream = await connect(
            url, subprotocols=scope.get("subprotocols") or None,
            additional_headers=_headers(scope, host), user_agent_header=None,
            compression=None, proxy=None, open_timeout=OPEN_TIMEOUT_S, max_size=None,
            ping_interval=None,  # the client's own pings pass through as they are
        )
    except (InvalidHandshake, InvalidStatus, OSError, TimeoutError) as exc:
        detail = f"{route.name} refused or did not answer the WebSocket upgrade ({exc})."
        await refuse_websocket(scope, send, 502, page(502, "WebSocket upgrade failed", detail))
        return False
    async with upstream:
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        async with anyio.create_task_group() as group:
            group.start_soon(_client_to_app, receive, upstream, group.cancel_scope)
            await _app_to_client(upstream, send)
            group.cancel_scope.cancel()
    return True


async def _client_to_app(receive: Receive, upstream: ClientConnection,
                         scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            await upstream.close(code=message.get("code", 1000))
            scope.cancel()
            return
        data = message.get("text")
        try:
            await upstream.send(data if data is not None else message.get("bytes") or b"")
        except ConnectionClosed:
            return


async def _app_to_client(upstream: ClientConnection, send: Send) -> None:
    try:
        async for data in upstream:
            key = "text" if isinstance(data, str) else "bytes"
            await send({"type": "websocket.send", key: data})
    except ConnectionClosed:
        pass
    code = upstream.close_code or 1000
    # The client may be gone already (uvicorn then refuses the close).
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "websocket.close", "code": 1000 if code in (1005, 1006) else code})
