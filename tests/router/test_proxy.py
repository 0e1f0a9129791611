"""The router against a local upstream app on loopback: no engine needed.

The route table is a fixed one, so each case of the proxy (headers, streaming both ways,
keep-alive, WebSockets, the router's own pages, request counts) is checked in isolation.
The engine-backed tests (test_dataplane.py) check the same router inside a real daemon.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route as HttpRoute
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect as ws_connect

from hostd.router.counts import RequestCounter
from hostd.router.proxy import Router
from hostd.router.table import Route
from tests.router.proxykit import RouterThread, StaticTable
from tests.support import free_port, tls


async def headers(request: Request) -> JSONResponse:
    return JSONResponse({"headers": dict(request.headers), "path": request.url.path,
                         "query": request.url.query})


async def digest(request: Request) -> JSONResponse:
    sha, size, chunks = hashlib.sha256(), 0, 0
    async for chunk in request.stream():
        sha.update(chunk)
        size, chunks = size + len(chunk), chunks + 1
    return JSONResponse({"sha256": sha.hexdigest(), "size": size, "chunks": chunks})


async def blob(request: Request) -> StreamingResponse:
    size = int(request.query_params["size"])

    async def chunks():
        for i in range(0, size, 65536):
            yield bytes(min(65536, size - i))

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def slow(request: Request) -> StreamingResponse:
    async def chunks():
        yield b"first\n"
        await asyncio.sleep(1.5)
        yield b"second\n"

    return StreamingResponse(chunks(), media_type="text/plain")


async def ws_echo(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="chat" if "chat" in offered else None)
    forwarded = websocket.headers.get("x-forwarded-host", "")
    await websocket.send_text(f"hello {forwarded}")
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"].upper())
        else:
            await websocket.send_bytes(message["bytes"][::-1])


UPSTREAM = Starlette(routes=[
    HttpRoute("/headers", headers), HttpRoute("/digest", digest, methods=["POST"]),
    HttpRoute("/blob", blob),
    HttpRoute("/slow", slow), WebSocketRoute("/ws", ws_echo),
])


class ThreadServer:
    """An ASGI app on a free loopback port, served by uvicorn in a thread."""

    def __init__(self, make_app) -> None:
        self.port = free_port()
        self._make_app = make_app
        self.server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        app = await self._make_app()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off",
                                                    proxy_headers=False))
        await self.server.serve()

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not (self.server and self.server.started):
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.should_exit = True
        self._thread.join(10)


@pytest.fixture(scope="module")
def upstream() -> Iterator[ThreadServer]:
    async def make():
        return UPSTREAM

    with ThreadServer(make) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(upstream: ThreadServer) -> Iterator[tuple[ThreadServer, RequestCounter]]:
    dead_port = free_port()  # nothing listens there
    routes = {
        ("shop", "alice"): Route("p-shop", "shop", "alice", "running", "c1", upstream.port),
        ("old", "alice"): Route("p-old", "old", "alice", "stopped", "c2", None),
        ("broken", "bob"): Route("p-broken", "broken", "bob", "error", "c3", None),
        ("wait", "bob"): Route("p-wait", "wait", "bob", "deploying", None, None),
        ("gone", "bob"): Route("p-gone", "gone", "bob", "running", "c4", dead_port),
    }
    counter = RequestCounter()

    with RouterThread(lambda: Router(StaticTable(routes), counter)) as server:
        yield server, counter


def url(proxy, path: str = "/") -> str:
    return f"http://127.0.0.1:{proxy[0].port}{path}"


def host(proxy, name: str = "shop.alice") -> dict[str, str]:
    return {"Host": f"{name}.localhost:{proxy[0].port}"}


def test_routes_by_host_and_sets_forwarded_headers(proxy):
    resp = httpx.get(url(proxy, "/headers?q=1&x=%20"), headers={
        **host(proxy), "X-Forwarded-For": "10.1.2.3", "Connection": "keep-alive, X-Drop",
        "X-Drop": "hop", "X-Keep": "end",
    }, verify=tls())
    assert resp.status_code == 200
    body = resp.json()
    sent = body["headers"]
    assert body["path"] == "/headers" and body["query"] == "q=1&x=%20"
    assert sent["host"] == f"shop.alice.localhost:{proxy[0].port}"
    assert sent["x-forwarded-for"] == "127.0.0.1", "the router's peer, never the client's claim"
    assert sent["x-forwarded-proto"] == "http"
    assert sent["x-forwarded-host"] == f"shop.alice.localhost:{proxy[0].port}"
    assert sent["x-keep"] == "end"
    assert "x-drop" not in sent, "headers named in Connection are hop-by-hop"
    assert "python-httpx" in sent["user-agent"], "the client's own headers, no added ones"


def test_request_and_response_bodies_stream_through(proxy):
    payload = bytes(range(256)) * 8192  # 2 MiB, sent in chunks of 64 KiB

    def chunks():
        for i in range(0, len(payload), 65536):
            yield payload[i:i + 65536]

    resp = httpx.post(url(proxy, "/digest"), headers=host(proxy), content=chunks(), timeout=30,
                      verify=tls())
    assert resp.status_code == 200
    got = resp.json()
    assert got["size"] == len(payload)
    assert got["sha256"] == hashlib.sha256(payload).hexdigest()
    assert got["chunks"] > 1, "the body reached the app in pieces, not as one buffer"
    size = 8 * 1024 * 1024
    with httpx.stream("GET", url(proxy, f"/blob?size={size}"), headers=host(proxy),
                      verify=tls()) as resp:
        assert resp.status_code == 200
        assert sum(len(c) for c in resp.iter_raw()) == size


def test_the_first_chunk_arrives_before_the_app_has_finished(proxy):
    started = time.monotonic()
    with httpx.stream("GET", url(proxy, "/slow"), headers=host(proxy), timeout=10,
                      verify=tls()) as resp:
        lines = resp.iter_lines()
        assert next(lines) == "first"
        assert time.monotonic() - started < 1.2, "the router held the response back"
        assert next(lines) == "second"


def test_keep_alive_to_the_client(proxy):
    with httpx.Client(headers=host(proxy), verify=tls()) as client:
        ports = set()
        for _ in range(5):
            resp = client.get(url(proxy, "/headers"),
                              extensions={"trace": lambda name, info: ports.add(
                                  id(info.get("return_value")))
                                  if name == "connection.connect_tcp.complete" else None})
            assert resp.status_code == 200
        assert len(ports) == 1, "one TCP connection served all five requests"


def test_unknown_host_is_a_404_page(proxy):
    for name in ("nope.alice", "shop.nobody", "a.b.c"):
        resp = httpx.get(url(proxy), headers=host(proxy, name), verify=tls())
        assert resp.status_code == 404
        assert resp.headers["content-type"].startswith("text/html")
        assert "Not found" in resp.text and "nope" not in resp.text
    assert httpx.get(url(proxy), verify=tls()).status_code == 404  # Host: 127.0.0.1:port


def test_a_project_that_is_not_running_is_a_503_page_naming_its_state(proxy):
    # The reason stays its owner's (tests/router/test_pages.py): the page says the state.
    for name, state in (("old.alice", "old is stopped"), ("broken.bob", "broken failed to start"),
                        ("wait.bob", "wait is deploying")):
        resp = httpx.get(url(proxy), headers=host(proxy, name), verify=tls())
        assert resp.status_code == 503 and state in resp.text


def test_an_app_that_does_not_answer_is_a_502_page(proxy):
    resp = httpx.get(url(proxy), headers=host(proxy, "gone.bob"), verify=tls())
    assert resp.status_code == 502 and "did not answer" in resp.text


def test_requests_served_are_counted_per_container_start(proxy, upstream):
    _, counter = proxy
    started = f"c1:{upstream.port}"
    before = counter.read("p-shop", started)
    for _ in range(7):
        httpx.get(url(proxy, "/headers"), headers=host(proxy), verify=tls())
    httpx.get(url(proxy), headers=host(proxy, "old.alice"), verify=tls())  # a 503 page: not served
    assert counter.read("p-shop", started) == before + 7
    assert counter.read("p-shop", "c1:1") == 0, "another start of the container reads 0"
    assert counter.read("p-old", "c2:None") == 0


def ws_to(proxy, name: str = "shop.alice", **options):
    """A WebSocket to `name` through the router: its URI names the host, so the client's
    one Host header is the project's (a second one, added, would be a 400)."""
    sock = socket.create_connection(("127.0.0.1", proxy[0].port), timeout=5)
    return ws_connect(f"ws://{host(proxy, name)['Host']}/ws", sock=sock, proxy=None,
                      open_timeout=5, **options)


def test_websocket_upgrades_pass_through(proxy):
    with ws_to(proxy, subprotocols=["chat"]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.recv(timeout=5) == f"hello shop.alice.localhost:{proxy[0].port}"
        ws.send("ping")
        assert ws.recv(timeout=5) == "PING"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=5) == b"\x03\x02\x01"


def test_websocket_to_an_unknown_host_is_refused(proxy):
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        ws_to(proxy, "nope.alice")
    assert info.value.response.status_code == 404
