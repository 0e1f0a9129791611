"""The standard-library transport against real sockets: the same requests, the same errors.

test_errors.py checks the error mapping through httpx (MockTransport); here the same
table goes through `PlainHttp`, which serves one-shot requests to plain http:// URLs.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hostctl import errors
from hostctl.client import HostdClient
from hostctl.exit_codes import ExitCode, exit_code_for
from hostctl.transport import HttpxTransport, PlainHttp, plain_http_applies
from tests.cli.test_errors import ERROR_CASES
from tests.support import free_port

# (status, extra headers, body) for one request, given (method, path, headers, body).
Answer = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, str, dict[str, str], bytes], Answer]


class CannedServer:
    """A real HTTP/1.1 server in a thread; `handler` decides every answer."""

    def __init__(self, handler: Handler, idle_timeout: float | None = None) -> None:
        self.handler = handler
        self.closed_connections = threading.Semaphore(0)
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn does
            timeout = idle_timeout

            def handle_one(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status, headers, payload = outer.handler(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = handle_one

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
                super().shutdown_request(request)  # the socket is closed from here on
                outer.closed_connections.release()

        self.httpd = Server(("127.0.0.1", 0), RequestHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> CannedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def json_answer(status: int, payload: object, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(
        payload).encode()


@pytest.fixture
def serve() -> Iterator[Callable[..., CannedServer]]:
    servers: list[CannedServer] = []

    def start(handler: Handler, **kwargs: float) -> CannedServer:
        servers.append(CannedServer(handler, **kwargs).__enter__())
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__()


def test_http_urls_use_the_standard_library_unless_httpx_would_do_more():
    assert plain_http_applies("http://127.0.0.1:3000", {})
    assert plain_http_applies("http://hostd.lan:3000/api-prefix", {"NO_PROXY": "localhost"})
    assert not plain_http_applies("https://hostd.example", {})
    assert not plain_http_applies("http://127.0.0.1:3000", {"HTTP_PROXY": "http://proxy:3128"})
    assert not plain_http_applies("http://127.0.0.1:3000", {"all_proxy": "socks5://proxy"})
    assert not plain_http_applies("http://alice:pw@127.0.0.1:3000", {})
    proxied = HostdClient("http://127.0.0.1:3000", "t", environ={"http_proxy": "http://p:1"})
    assert isinstance(proxied._oneshot, HttpxTransport)
    assert isinstance(HostdClient("http://127.0.0.1:3000", "t")._oneshot, PlainHttp)


def test_requests_carry_the_path_prefix_query_body_and_token(serve):
    seen = []

    def handler(method, path, headers, body):
        seen.append((method, path, headers, body))
        return json_answer(200, {"project": {"name": "shop"}, "lines": ["a"]})

    server = serve(handler)
    client = HostdClient(server.url + "/prefix/", "tok")
    assert client.create_project("shop", "https://github.com/a/b", "static") == {"name": "shop"}
    assert client.logs("p1", source="build", tail=5) == ["a"]
    client.close()
    (method, path, headers, body), (_, logs_path, _, _) = seen
    assert (method, path) == ("POST", "/prefix/api/projects")
    assert headers["authorization"] == "Bearer tok"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"name": "shop", "github_url": "https://github.com/a/b",
                                "template": "static"}
    assert logs_path == "/prefix/api/projects/p1/logs?source=build&tail=5"


@pytest.mark.parametrize(("status", "name", "exc_class", "code"), ERROR_CASES)
def test_error_bodies_become_the_same_typed_errors(serve, status, name, exc_class, code):
    body = {"error": name, "message": f"{name} happened", "statusCode": status}
    server = serve(lambda *request: json_answer(status, body, {"Retry-After": "3"}))
    with pytest.raises(exc_class) as caught:
        HostdClient(server.url, "t").list_projects()
    assert (caught.value.error, caught.value.status_code) == (name, status)
    assert caught.value.message == f"{name} happened"
    assert caught.value.retry_after == 3
    assert exit_code_for(caught.value) == code


def test_a_body_that_is_not_json_still_raises(serve):
    server = serve(lambda *request: (502, {"Content-Type": "text/html"}, b"<html>bad gateway"))
    with pytest.raises(errors.ServerError) as caught:
        HostdClient(server.url, "t").me()
    assert caught.value.message == "<html>bad gateway"


def test_refused_and_silent_daemons():
    with pytest.raises(errors.DaemonUnreachable) as caught:
        HostdClient(f"http://127.0.0.1:{free_port()}", "t").me()
    assert "is hostd running?" in str(caught.value)
    # Listening but never answering: the kernel accepts the connection, nobody reads it.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(errors.RequestTimeout) as timed_out:
            HostdClient(url, "t", timeout=0.2).me()
    assert exit_code_for(timed_out.value) == ExitCode.TIMEOUT


def test_a_connection_the_daemon_closed_while_idle_is_reopened(serve):
    server = serve(lambda *request: json_answer(200, {"user": {"id": "u"}}), idle_timeout=0.1)
    client = HostdClient(server.url, "t")
    assert client.me() == {"id": "u"}
    # The server drops the kept-alive connection after 0.1 s idle; the next request
    # must not fail on the dead socket.
    assert server.closed_connections.acquire(timeout=5)
    assert client.me() == {"id": "u"}
    client.close()
