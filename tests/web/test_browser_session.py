"""The session cookie in a real Chromium (hostd.api.session): the dashboard works on its own
name (pages, live events read by fetch with the CSRF header), a loopback name redirects
there, the cookie goes to no other port of 127.0.0.1, what an app on another port of
hostd.localhost does receive is worth nothing, and `next=` sends nobody elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support import auth, free_port, tls
from tests.test_auth_api import assert_error
from tests.test_token_lifecycle import EVENTS, login
from tests.web.dashboard import PASSWORD, SESSION, dashboard_host, dashboard_url
from tests.web.test_browser import csrf_of, register_in_page, session_cookie


class Recorder(ThreadingHTTPServer):
    """A server on another loopback port, as a tenant's app is: it keeps the Cookie
    headers it was sent."""

    def __init__(self) -> None:
        self.cookies: list[str] = []
        super().__init__(("127.0.0.1", free_port()), RecordingHandler)


class RecordingHandler(BaseHTTPRequestHandler):
    server: Recorder

    def do_GET(self) -> None:
        self.server.cookies.extend(self.headers.get_all("Cookie") or [])
        body = b"<!doctype html><title>an app</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_dashboard_works_on_its_name_and_its_events_arrive(page, hostd):
    email = register_in_page(page, hostd)
    page.locator("#live[data-state=live]").wait_for()  # the event stream answered
    # A project made elsewhere (by a Bearer client of the same user) shows up live: its
    # status_changed events reach the page through the stream.
    with httpx.Client(base_url=hostd.url, verify=tls(), timeout=30) as api:
        token = login(api, email)
        reply = api.post("/api/projects", headers=auth(token), json={
            "name": "live-one", "github_url": "file:///nonexistent/repo", "template": "static"})
        assert reply.status_code == 201, reply.text
    page.locator("#rows tr", has_text="live-one").wait_for()
    assert page.problems == [] and page.blocked == []


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_a_loopback_name_redirects_to_the_dashboards_name(page, hostd, name):
    page.goto(f"http://{name}:{hostd.port}/projects/abc?x=1")
    # There, signed out: on to the sign-in page, which would come back.
    page.wait_for_url(f"{dashboard_url(hostd)}/signin?next=%2Fprojects%2Fabc")
    page.goto(f"http://{name}:{hostd.port}/")
    page.wait_for_url(f"{dashboard_url(hostd)}/signin?next=%2F")


def test_the_cookie_goes_to_no_other_port_and_is_worth_nothing_where_it_goes(
        page, hostd, recorder):
    register_in_page(page, hostd)
    cookie, csrf = session_cookie(page), csrf_of(page)
    page.goto(f"http://127.0.0.1:{recorder.server_port}/")
    assert recorder.cookies == []  # host-only for hostd.localhost: 127.0.0.1 gets nothing
    # Cookies ignore ports: an app on another port of hostd.localhost itself gets it ...
    page.goto(f"http://hostd.localhost:{recorder.server_port}/")
    assert recorder.cookies == [f"hostd_session={cookie['value']}"]
    assert csrf_of(page) is None  # the dashboard's storage is its origin's: not this port's
    # ... and can do nothing with it: no Bearer token, no request without the CSRF header
    # (reads, streams, the session itself), which only the dashboard's origin holds.
    stolen = {**dashboard_host(hostd), "Cookie": recorder.cookies[0]}
    with httpx.Client(base_url=hostd.url, verify=tls(), timeout=30) as api:
        assert_error(api.get("/api/auth/me", headers=auth(cookie["value"])), 401,
                     "Unauthorized")
        for path in ("/api/auth/me", SESSION, "/api/projects", EVENTS):
            assert_error(api.get(path, headers=stolen), 403, "Forbidden")
        assert api.get("/api/auth/me", headers={
            **stolen, "X-CSRF-Token": csrf}).status_code == 200  # with the page's own: yes


NEXT_ELSEWHERE = ["/%5Cevil.example", "%2F%5Cevil.example", "//evil.example",
                  "%2F%2Fevil.example", "https:evil.example", "https://evil.example/",
                  "http://evil.example", "/%09/evil.example", "javascript:alert(1)"]


def test_next_sends_a_signed_in_user_to_no_other_site(page, hostd):
    """`/signin?next=…` signed in goes on at once: to a page of the dashboard, only."""
    dash = dashboard_url(hostd)
    register_in_page(page, hostd)
    for target in NEXT_ELSEWHERE:
        page.goto(f"{dash}/signin?next={target}")
        page.wait_for_url(f"{dash}/")
        assert page.blocked == [], (target, page.blocked)
    page.goto(f"{dash}/signin?next=%2Fprojects%2Fabc%3Fx%3D1")
    page.wait_for_url(f"{dash}/projects/abc?x=1")
    assert page.problems == []


def test_next_after_signing_in_goes_to_no_other_site(page, hostd):
    dash = dashboard_url(hostd)
    email = register_in_page(page, hostd)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{dash}/signin")
    page.goto(f"{dash}/signin?next=/%5Cevil.example")
    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{dash}/")
    assert page.blocked == []
