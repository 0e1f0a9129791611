"""Browser sessions (hostd.api.session): the cookie's flags, the CSRF rule for changes
made with it, Bearer requests untouched, sign-out revoking it, and streams ending with it.
Plain HTTP against the session daemon: no browser."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx
import pytest

from tests.support import auth, register, unique_email
from tests.test_auth_api import assert_error
from tests.test_token_lifecycle import (
    END_REVOKED,
    EVENTS,
    STREAM_ENDS_WITHIN_S,
    sse_events,
    stream_client,
    until_closed,
)

SESSION = "/api/auth/session"
PASSWORD = "s3cret-pass"


def sign_in(client: httpx.Client) -> tuple[dict[str, str], str, dict]:
    """A new user signed in as a browser: (the Cookie header, the CSRF token, the answer)."""
    email = unique_email("web")
    register(client, email=email, password=PASSWORD)
    resp = client.post(SESSION, json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    cookie = SimpleCookie(resp.headers["set-cookie"])["hostd_session"]
    client.cookies.clear()  # each request below says exactly what it sends
    return {"Cookie": f"hostd_session={cookie.value}"}, resp.json()["csrf_token"], resp


def test_sign_in_sets_an_httponly_strict_cookie_and_answers_no_token(client):
    _, csrf, resp = sign_in(client)
    body = resp.json()
    assert set(body) == {"user", "csrf_token"}
    assert set(body["user"]) == {"id", "email", "name", "handle"}
    assert "token" not in body and "eyJ" not in resp.text  # the token is in the cookie only
    header = resp.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= flags
    assert "samesite=strict" in header.lower() and "path=/" in header.lower()
    assert "secure" not in flags  # plain http on loopback: see hostd.api.session
    assert len(csrf) == 64


def test_a_wrong_password_is_the_login_error(client):
    email = unique_email("web")
    register(client, email=email, password=PASSWORD)
    resp = client.post(SESSION, json={"email": email, "password": "not-it"})
    assert_error(resp, 401, "AuthError")
    assert "set-cookie" not in resp.headers


def test_the_cookie_authenticates_reads(client):
    cookie, csrf, signed = sign_in(client)
    me = client.get("/api/auth/me", headers=cookie)
    assert me.status_code == 200 and me.json()["user"] == signed.json()["user"]
    again = client.get(SESSION, headers=cookie)
    assert again.status_code == 200 and again.json()["csrf_token"] == csrf
    assert client.get("/api/projects", headers=cookie).status_code == 200


@pytest.mark.parametrize("sent", [None, "", "0" * 64, "wrong"])
def test_a_cookie_change_without_its_csrf_token_is_a_403(client, sent):
    cookie, _, _ = sign_in(client)
    headers = dict(cookie) if sent is None else {**cookie, "X-CSRF-Token": sent}
    body = {"name": "web-csrf", "github_url": "https://github.com/octo/blog.git",
            "template": "static"}
    err = assert_error(client.post("/api/projects", json=body, headers=headers),
                       403, "Forbidden")
    assert "X-CSRF-Token" in err["message"]
    assert client.get("/api/projects", headers=cookie).json()["projects"] == []
    assert_error(client.delete(SESSION, headers=headers), 403, "Forbidden")
    assert client.get("/api/auth/me", headers=cookie).status_code == 200  # still signed in


def test_another_sessions_csrf_token_does_not_do(client):
    cookie, _, _ = sign_in(client)
    _, other_csrf, _ = sign_in(client)
    resp = client.post("/api/auth/logout-all", headers={**cookie, "X-CSRF-Token": other_csrf})
    assert_error(resp, 403, "Forbidden")


def test_a_cookie_change_with_its_csrf_token_works(client):
    cookie, csrf, _ = sign_in(client)
    headers = {**cookie, "X-CSRF-Token": csrf, "Origin": client.base_url.scheme + "://"
               + client.base_url.netloc.decode()}
    resp = client.post("/api/projects", headers=headers, json={
        "name": "web-ok", "github_url": "https://github.com/octo/blog.git", "template": "static"})
    assert resp.status_code == 201, resp.text
    project_id = resp.json()["project"]["id"]
    assert client.delete(f"/api/projects/{project_id}", headers=headers).status_code == 200


def test_a_foreign_origin_is_refused_even_with_the_csrf_token(client):
    cookie, csrf, _ = sign_in(client)
    resp = client.delete(SESSION, headers={**cookie, "X-CSRF-Token": csrf,
                                           "Origin": "http://shop.alice.localhost:8080"})
    assert_error(resp, 403, "Forbidden")
    assert client.get("/api/auth/me", headers=cookie).status_code == 200


def test_bearer_requests_ignore_the_cookie_and_need_no_csrf(client):
    token, user = register(client)
    cookie, _, _ = sign_in(client)  # someone else's session cookie alongside
    headers = {**auth(token), **cookie}
    assert client.get("/api/auth/me", headers=headers).json()["user"] == user
    resp = client.post("/api/projects", headers=headers, json={
        "name": "bearer-web", "github_url": "https://github.com/octo/blog.git",
        "template": "static"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["project"]["userId"] == user["id"]
    # A bad Bearer header is its 401, never a fall back to the cookie.
    assert_error(client.get("/api/auth/me", headers={**cookie, "Authorization": "Bearer x"}),
                 401, "Unauthorized")


def test_sign_out_revokes_the_cookie(client):
    cookie, csrf, _ = sign_in(client)
    resp = client.delete(SESSION, headers={**cookie, "X-CSRF-Token": csrf})
    assert resp.status_code == 200 and set(resp.json()) == {"message"}
    cleared = SimpleCookie(resp.headers["set-cookie"])["hostd_session"]
    assert cleared.value == "" and cleared["max-age"] == "0"
    assert_error(client.get("/api/auth/me", headers=cookie), 401, "Unauthorized")
    assert_error(client.get(SESSION, headers=cookie), 401, "Unauthorized")
    assert_error(client.post("/api/auth/logout-all", headers={**cookie, "X-CSRF-Token": csrf}),
                 401, "Unauthorized")


def test_no_cookie_and_no_header_is_the_usual_401(client):
    err = assert_error(client.get("/api/auth/me"), 401, "Unauthorized")
    assert "Bearer" in err["message"]
    assert_error(client.get("/api/auth/me", headers={"Cookie": "hostd_session=nonsense"}),
                 401, "Unauthorized")


def test_an_event_stream_by_cookie_ends_with_sign_out(hostd):
    with stream_client(hostd) as c:
        cookie, csrf, _ = sign_in(c)
        with c.stream("GET", EVENTS, headers=cookie) as resp:
            assert resp.status_code == 200
            events = sse_events(resp)
            assert next(events)[0] == "connected"
            assert c.delete(SESSION, headers={**cookie, "X-CSRF-Token": csrf}).status_code == 200
            rest, took = until_closed(events)
    assert rest == [END_REVOKED]
    assert took < STREAM_ENDS_WITHIN_S
