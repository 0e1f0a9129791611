"""Browser sessions (hostd.api.session): signed in on the dashboard's own name only, the
cookie's flags, a session token that is no Bearer token, the CSRF header on every request
the cookie makes (reads and streams too), Bearer requests untouched, sign-out, logout-all
and a password change ending it, and its sliding life. Plain HTTP: no browser."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import httpx
import jwt
import pytest

from tests.support import HostdServer, auth, register, unique_email
from tests.test_auth_api import assert_error
from tests.test_token_lifecycle import (
    END_REVOKED,
    EVENTS,
    STREAM_ENDS_WITHIN_S,
    change_password,
    login,
    sse_events,
    stream_client,
    until_closed,
)
from tests.web.dashboard import PASSWORD, SESSION, dashboard_host

CREATE = {"name": "web-csrf", "github_url": "https://github.com/octo/blog.git",
          "template": "static"}


def sign_in(client: httpx.Client, server: HostdServer,
            email: str | None = None) -> tuple[dict[str, str], str, httpx.Response]:
    """A new user (or `email`'s) signed in as a browser on hostd.localhost: (the headers of
    a request with the cookie and no CSRF token, the CSRF token, the answer)."""
    if email is None:
        email = unique_email("web")
        register(client, email=email, password=PASSWORD)
    resp = client.post(SESSION, json={"email": email, "password": PASSWORD},
                       headers=dashboard_host(server))
    assert resp.status_code == 200, resp.text
    cookie = SimpleCookie(resp.headers["set-cookie"])["hostd_session"]
    client.cookies.clear()  # each request below says exactly what it sends
    headers = {**dashboard_host(server), "Cookie": f"hostd_session={cookie.value}"}
    return headers, resp.json()["csrf_token"], resp


def with_csrf(cookie: dict[str, str], csrf: str) -> dict[str, str]:
    return {**cookie, "X-CSRF-Token": csrf}


def cookie_token(headers: dict[str, str]) -> str:
    return headers["Cookie"].removeprefix("hostd_session=")


def renewed(resp: httpx.Response, headers: dict[str, str]) -> dict[str, str]:
    """The request headers with the cookie a response renewed, if it did."""
    if "set-cookie" not in resp.headers:
        return headers
    value = SimpleCookie(resp.headers["set-cookie"])["hostd_session"].value
    return {**headers, "Cookie": f"hostd_session={value}"}


def test_sign_in_sets_a_host_only_httponly_strict_session_cookie(client, hostd):
    cookie, csrf, resp = sign_in(client, hostd)
    body = resp.json()
    assert set(body) == {"user", "csrf_token"}
    assert set(body["user"]) == {"id", "email", "name", "handle"}
    assert "token" not in body and "eyJ" not in resp.text  # the token is in the cookie only
    header = resp.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= flags
    assert "domain" not in flags  # host-only: hostd.localhost, no other name
    assert "samesite=strict" in header.lower() and "path=/" in header.lower()
    assert "secure" not in flags  # plain http on loopback: see hostd.api.session
    assert len(csrf) == 64
    claims = jwt.decode(cookie_token(cookie), hostd.secret(), algorithms=["HS256"])
    assert claims["kind"] == "session"
    assert claims["exp"] - claims["iat"] == 8 * 3600  # HOSTD_SESSION_IDLE's default
    assert int(SimpleCookie(header)["hostd_session"]["max-age"]) <= 8 * 3600


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_no_session_is_given_on_another_name(client, hostd, host):
    email = unique_email("web")
    register(client, email=email, password=PASSWORD)
    resp = client.post(SESSION, json={"email": email, "password": PASSWORD},
                       headers={"Host": f"{host}:{hostd.port}"})
    err = assert_error(resp, 403, "Forbidden")
    assert f"http://hostd.localhost:{hostd.port}/" in err["message"]
    assert "set-cookie" not in resp.headers


def test_a_wrong_password_is_the_login_error(client, hostd):
    email = unique_email("web")
    register(client, email=email, password=PASSWORD)
    resp = client.post(SESSION, json={"email": email, "password": "not-it"},
                       headers=dashboard_host(hostd))
    assert_error(resp, 401, "AuthError")
    assert "set-cookie" not in resp.headers


def test_the_cookie_reads_only_with_its_csrf_token(client, hostd):
    cookie, csrf, signed = sign_in(client, hostd)
    for path in ("/api/auth/me", SESSION, "/api/projects"):
        err = assert_error(client.get(path, headers=cookie), 403, "Forbidden")
        assert "X-CSRF-Token" in err["message"]
        assert_error(client.get(path, headers={**cookie, "X-CSRF-Token": "0" * 64}),
                     403, "Forbidden")
    me = client.get("/api/auth/me", headers=with_csrf(cookie, csrf))
    assert me.status_code == 200 and me.json()["user"] == signed.json()["user"]
    again = client.get(SESSION, headers=with_csrf(cookie, csrf))
    assert again.status_code == 200 and again.json()["csrf_token"] == csrf
    assert client.get("/api/projects", headers=with_csrf(cookie, csrf)).status_code == 200


@pytest.mark.parametrize("sent", [None, "", "0" * 64, "wrong"])
def test_a_cookie_change_without_its_csrf_token_is_a_403(client, hostd, sent):
    cookie, csrf, _ = sign_in(client, hostd)
    headers = dict(cookie) if sent is None else {**cookie, "X-CSRF-Token": sent}
    err = assert_error(client.post("/api/projects", json=CREATE, headers=headers),
                       403, "Forbidden")
    assert "X-CSRF-Token" in err["message"]
    reads = with_csrf(cookie, csrf)
    assert client.get("/api/projects", headers=reads).json()["projects"] == []
    assert_error(client.delete(SESSION, headers=headers), 403, "Forbidden")
    assert client.get("/api/auth/me", headers=reads).status_code == 200  # still signed in


def test_another_sessions_csrf_token_does_not_do(client, hostd):
    cookie, _, _ = sign_in(client, hostd)
    _, other_csrf, _ = sign_in(client, hostd)
    assert_error(client.get("/api/auth/me", headers=with_csrf(cookie, other_csrf)),
                 403, "Forbidden")
    resp = client.post("/api/auth/logout-all", headers=with_csrf(cookie, other_csrf))
    assert_error(resp, 403, "Forbidden")


def test_a_cookie_change_with_its_csrf_token_works(client, hostd):
    cookie, csrf, _ = sign_in(client, hostd)
    headers = {**with_csrf(cookie, csrf), "Origin": f"http://hostd.localhost:{hostd.port}"}
    resp = client.post("/api/projects", headers=headers, json={**CREATE, "name": "web-ok"})
    assert resp.status_code == 201, resp.text
    project_id = resp.json()["project"]["id"]
    assert client.delete(f"/api/projects/{project_id}", headers=headers).status_code == 200


def test_a_foreign_origin_is_refused_even_with_the_csrf_token(client, hostd):
    cookie, csrf, _ = sign_in(client, hostd)
    resp = client.delete(SESSION, headers={**with_csrf(cookie, csrf),
                                           "Origin": "http://shop.alice.localhost:8080"})
    assert_error(resp, 403, "Forbidden")
    assert client.get("/api/auth/me", headers=with_csrf(cookie, csrf)).status_code == 200


def test_a_session_token_is_no_bearer_token(client, hostd):
    cookie, csrf, _ = sign_in(client, hostd)
    token = cookie_token(cookie)
    for headers in (auth(token), {**auth(token), "X-CSRF-Token": csrf},
                    {**auth(token), **dashboard_host(hostd)}):
        err = assert_error(client.get("/api/auth/me", headers=headers), 401, "Unauthorized")
        assert "Bearer" in err["message"]
    assert_error(client.get(EVENTS, params={"access_token": token}), 401, "Unauthorized")
    assert_error(client.post("/api/projects", json=CREATE, headers=auth(token)),
                 401, "Unauthorized")


def test_the_cookie_takes_only_a_session_token_on_the_dashboards_name(client, hostd):
    bearer, _ = register(client)
    assert_error(client.get("/api/auth/me", headers={
        **dashboard_host(hostd), "Cookie": f"hostd_session={bearer}"}), 401, "Unauthorized")
    cookie, csrf, _ = sign_in(client, hostd)
    elsewhere = {**with_csrf(cookie, csrf), "Host": f"127.0.0.1:{hostd.port}"}
    assert_error(client.get("/api/auth/me", headers=elsewhere), 401, "Unauthorized")


def test_bearer_requests_ignore_the_cookie_and_need_no_csrf(client, hostd):
    token, user = register(client)
    cookie, _, _ = sign_in(client, hostd)  # someone else's session cookie alongside
    headers = {**auth(token), **cookie}
    assert client.get("/api/auth/me", headers=headers).json()["user"] == user
    resp = client.post("/api/projects", headers=headers, json={**CREATE, "name": "bearer-web"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["project"]["userId"] == user["id"]
    # A bad Bearer header is its 401, never a fall back to the cookie.
    assert_error(client.get("/api/auth/me", headers={**cookie, "Authorization": "Bearer x"}),
                 401, "Unauthorized")


def test_sign_out_revokes_the_cookie(client, hostd):
    cookie, csrf, _ = sign_in(client, hostd)
    resp = client.delete(SESSION, headers=with_csrf(cookie, csrf))
    assert resp.status_code == 200 and set(resp.json()) == {"message"}
    cleared = SimpleCookie(resp.headers["set-cookie"])["hostd_session"]
    assert cleared.value == "" and cleared["max-age"] == "0"
    for path in ("/api/auth/me", SESSION):
        assert_error(client.get(path, headers=with_csrf(cookie, csrf)), 401, "Unauthorized")
    assert_error(client.post("/api/auth/logout-all", headers=with_csrf(cookie, csrf)),
                 401, "Unauthorized")


@pytest.mark.parametrize("ending", ["logout-all", "password"])
def test_logout_all_and_a_password_change_end_sessions(client, hostd, ending):
    email = unique_email("web")
    register(client, email=email, password=PASSWORD)
    cookie, csrf, _ = sign_in(client, hostd, email)
    assert client.get("/api/auth/me", headers=with_csrf(cookie, csrf)).status_code == 200
    bearer = login(client, email)
    if ending == "logout-all":
        assert client.post("/api/auth/logout-all", headers=auth(bearer)).status_code == 200
    else:
        assert change_password(client, bearer, PASSWORD).status_code == 200
    assert_error(client.get("/api/auth/me", headers=with_csrf(cookie, csrf)), 401,
                 "Unauthorized")


def test_no_cookie_and_no_header_is_the_usual_401(client, hostd):
    err = assert_error(client.get("/api/auth/me"), 401, "Unauthorized")
    assert "Bearer" in err["message"]
    assert_error(client.get("/api/auth/me", headers={
        **dashboard_host(hostd), "Cookie": "hostd_session=nonsense", "X-CSRF-Token": "x"}),
        401, "Unauthorized")


def test_an_event_stream_by_cookie_needs_its_csrf_token_and_ends_with_sign_out(hostd):
    with stream_client(hostd) as c:
        cookie, csrf, _ = sign_in(c, hostd)
        assert_error(c.get(EVENTS, headers=cookie), 403, "Forbidden")
        with c.stream("GET", EVENTS, headers=with_csrf(cookie, csrf)) as resp:
            assert resp.status_code == 200
            events = sse_events(resp)
            assert next(events)[0] == "connected"
            assert c.delete(SESSION, headers=with_csrf(cookie, csrf)).status_code == 200
            rest, took = until_closed(events)
    assert rest == [END_REVOKED]
    assert took < STREAM_ENDS_WITHIN_S


def test_a_session_slides_while_used_and_ends_unused_or_at_its_cap(make_hostd):
    """HOSTD_SESSION_IDLE=3 s and JWT_EXPIRES_IN=8 s: a session used every half second
    outlives 3 s, renewed with the same jti, until its cap; one left alone has ended by
    then. Tokens count whole seconds, so the bounds have a second's slack."""
    server = make_hostd(HOSTD_SESSION_IDLE="3", JWT_EXPIRES_IN="8")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        email = unique_email("slide")
        register(client, email=email, password=PASSWORD)
        used, csrf, _ = sign_in(client, server, email)
        idle, idle_csrf, _ = sign_in(client, server, email)
        started = time.monotonic()
        cookies, idle_ended, ended = {cookie_token(used)}, None, None
        while time.monotonic() - started < 12:  # bounded: the cap is 8 s
            resp = client.get("/api/auth/me", headers=with_csrf(used, csrf))
            if resp.status_code != 200:
                ended = (time.monotonic() - started, resp)
                break
            used = renewed(resp, used)
            cookies.add(cookie_token(used))
            if idle_ended is None and time.monotonic() - started > 4.5:
                idle_ended = client.get("/api/auth/me", headers=with_csrf(idle, idle_csrf))
            time.sleep(0.5)
        assert idle_ended is not None and ended is not None, "a session outlived its cap"
        assert_error(idle_ended, 401, "TokenExpired")  # unused for 4.5 s: over
        took, resp = ended
        assert_error(resp, 401, "TokenExpired")
        assert 6.5 < took < 9.5, took  # renewed past its 3 s all along; ended at the cap
        assert len(cookies) > 4  # renewed as it was used ...
        jtis = {jwt.decode(c, server.secret(), algorithms=["HS256"],
                           options={"verify_exp": False})["jti"] for c in cookies}
        assert len(jtis) == 1  # ... as the same session


def test_revoking_a_renewed_session_revokes_every_cookie_it_had(make_hostd):
    server = make_hostd(HOSTD_SESSION_IDLE="16")  # renewed once 2 s old
    with httpx.Client(base_url=server.url, timeout=10) as client:
        first, csrf, _ = sign_in(client, server)
        time.sleep(2.2)
        resp = client.get("/api/auth/me", headers=with_csrf(first, csrf))
        assert resp.status_code == 200 and "set-cookie" in resp.headers
        second = renewed(resp, first)
        assert second != first
        assert client.delete(SESSION, headers=with_csrf(second, csrf)).status_code == 200
        for cookie in (first, second):
            assert_error(client.get("/api/auth/me", headers=with_csrf(cookie, csrf)),
                         401, "Unauthorized")
