"""The finding, end to end, through a real app container publishing a port on 127.0.0.1:
Bob signs in to the dashboard with a cookie jar, then sends a request with that jar to
Alice's app. The jar gives the app nothing on 127.0.0.1 (the cookie is host-only for
hostd.localhost); on hostd.localhost:<app port> it does (cookies ignore ports), and that
value is worth nothing: no Bearer token, and refused without the session's CSRF header on
reads and on the event stream (hostd.api.session)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import docker
import httpx

from tests.plugins.engine import TEST_LABELS
from tests.support import auth
from tests.test_auth_api import assert_error
from tests.test_token_lifecycle import EVENTS
from tests.web.dashboard import SESSION, dashboard_url, loopback_client, sign_in_jar

# Alice's app: it answers every request with the headers it was sent, as JSON.
RECORDER = """
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("0.0.0.0", 8000), Echo).serve_forever()
"""
START_S = 60


@contextlib.contextmanager
def header_recorder(engine: docker.DockerClient) -> Iterator[int]:
    """A container on 127.0.0.1:<port> that echoes request headers; the port."""
    container = engine.containers.run(
        "hostd/python:3.13", ["python3", "-c", RECORDER], detach=True, labels=TEST_LABELS,
        user="65534", ports={"8000/tcp": ("127.0.0.1", None)}, mem_limit="64m")
    try:
        container.reload()
        port = int(container.ports["8000/tcp"][0]["HostPort"])
        deadline = time.monotonic() + START_S
        while True:  # bounded: START_S
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, container.logs()[-2000:]
                time.sleep(0.2)
        yield port
    finally:
        container.remove(force=True)


def test_an_apps_port_gets_no_session_cookie_and_the_value_is_worth_nothing(engine, hostd):
    with header_recorder(engine) as port, loopback_client() as bob:
        csrf, user = sign_in_jar(bob, hostd)
        assert [(c.name, c.domain) for c in bob.cookies.jar] == [
            ("hostd_session", "hostd.localhost")]
        seen = bob.get(f"http://127.0.0.1:{port}/", params={"to": "alice"}).json()
        assert "cookie" not in seen, seen  # host-only: 127.0.0.1 gets nothing

        # The worst case: Alice's app reached on the dashboard's name, at its own port.
        seen = bob.get(f"http://hostd.localhost:{port}/").json()
        assert seen["cookie"].startswith("hostd_session="), seen
        stolen = seen["cookie"].removeprefix("hostd_session=")
        api = dashboard_url(hostd)
        with loopback_client() as alice:
            err = assert_error(alice.get(f"{api}/api/auth/me", headers=auth(stolen)), 401,
                               "Unauthorized")
            assert "Bearer" in err["message"]
            for path in ("/api/auth/me", SESSION, "/api/projects", EVENTS):
                reply = alice.get(f"{api}{path}", headers={"Cookie": seen["cookie"]})
                assert_error(reply, 403, "Forbidden")
            reply = alice.post(f"{api}/api/auth/logout-all", headers={"Cookie": seen["cookie"]})
            assert_error(reply, 403, "Forbidden")
        # Bob's page, with the token only its origin holds, is still signed in.
        me = bob.get(f"{api}/api/auth/me", headers={"X-CSRF-Token": csrf})
        assert me.status_code == 200 and me.json()["user"] == user
