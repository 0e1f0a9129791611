"""The dashboard's own name for tests: `http://hostd.localhost:<API port>` (hostd.api.session).

Chromium resolves `*.localhost` to loopback itself. Python does not: `loopback_client`
is an httpx client whose URLs say `hostd.localhost` (so its cookie jar files cookies
under that name, as a browser does) while it connects to 127.0.0.1, as a browser would.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import HostdServer, tls, unique_email

DASHBOARD = "hostd.localhost"
PASSWORD = "s3cret-pass"
SESSION = "/api/auth/session"


def dashboard_url(server: HostdServer) -> str:
    return f"http://{DASHBOARD}:{server.port}"


def dashboard_host(server: HostdServer) -> dict[str, str]:
    """The Host header of a request to the dashboard's name (through 127.0.0.1)."""
    return {"Host": f"{DASHBOARD}:{server.port}"}


class LoopbackTransport(httpx.BaseTransport):
    """Connects every `*.localhost` URL to 127.0.0.1, the URL (and its Host) unchanged."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport(verify=tls())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.host == "localhost" or url.host.endswith(".localhost"):
            url = url.copy_with(host="127.0.0.1")
        inner = httpx.Request(request.method, url, headers=request.headers,
                              stream=request.stream, extensions=request.extensions)
        return self._inner.handle_request(inner)

    def close(self) -> None:
        self._inner.close()


def loopback_client(**kwargs: Any) -> httpx.Client:
    kwargs.setdefault("timeout", 30.0)
    return httpx.Client(transport=LoopbackTransport(), **kwargs)


def sign_in_jar(client: httpx.Client, server: HostdServer) -> tuple[str, dict]:
    """A new user signed in on the dashboard's name, the cookie in `client`'s jar:
    (the session's CSRF token, the user)."""
    base = dashboard_url(server)
    email = unique_email("jar")
    reply = client.post(f"{base}/api/auth/register",
                        json={"email": email, "password": PASSWORD, "name": "Bob Jar"})
    assert reply.status_code == 201, reply.text
    reply = client.post(f"{base}{SESSION}", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return reply.json()["csrf_token"], reply.json()["user"]
