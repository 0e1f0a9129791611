"""Tokens end: logout-all revokes every token of the caller, a password change every other
one, and an event stream ends within seconds of its token's revocation or expiry."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.support import HostdServer, auth, register, tls, unique_email
from tests.test_auth_api import assert_error, forge

PASSWORD = "s3cret-pass"
NEW_PASSWORD = "a-new-pass-1"
EVENTS = "/api/containers/events"
REVOKED = "The token has been revoked: log in again"
# The last event of a stream whose token was revoked: the error its next request would get.
END_REVOKED = ("end", {"reason": REVOKED, "error": "Unauthorized", "statusCode": 401})
STREAM_ENDS_WITHIN_S = 5.0


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> str:
    resp = client.post("/api/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    return resp.json()["token"]


def tokens_of_one_user(client: httpx.Client, count: int) -> tuple[str, list[str]]:
    email = unique_email("life")
    first, _ = register(client, email=email)
    return email, [first] + [login(client, email) for _ in range(count - 1)]


def me(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/api/auth/me", headers=auth(token))


def change_password(client: httpx.Client, token: str, current: str,
                    new: str = NEW_PASSWORD) -> httpx.Response:
    return client.post("/api/auth/password", headers=auth(token),
                       json={"current_password": current, "new_password": new})


# --- logout-all -------------------------------------------------------------------------

def test_logout_all_revokes_every_token_of_the_caller(client):
    email, tokens = tokens_of_one_user(client, 3)
    bystander, _ = register(client)
    for token in tokens:  # each is verified now, so the daemon's cache holds them all
        assert me(client, token).status_code == 200
    resp = client.post("/api/auth/logout-all", headers=auth(tokens[1]))
    assert resp.status_code == 200
    assert set(resp.json()) == {"message"}
    for token in tokens:
        err = assert_error(me(client, token), 401, "Unauthorized")
        assert "revoked" in err["message"]
    assert me(client, bystander).status_code == 200  # another user's token is untouched
    fresh = login(client, email)  # logging in again works, and its token does
    assert me(client, fresh).status_code == 200
    assert_error(client.post("/api/auth/logout-all", headers=auth(tokens[0])), 401,
                 "Unauthorized")


def test_logout_all_needs_a_token(client):
    assert_error(client.post("/api/auth/logout-all"), 401, "Unauthorized")


def test_tokens_carry_the_generation_they_were_issued_in(hostd, client):
    email, (token,) = tokens_of_one_user(client, 1)
    assert jwt.decode(token, hostd.secret(), algorithms=["HS256"])["gen"] == 0
    client.post("/api/auth/logout-all", headers=auth(token))
    assert jwt.decode(login(client, email), hostd.secret(), algorithms=["HS256"])["gen"] == 1


@pytest.mark.parametrize("gen", ["0", True, 1.5, [0]])
def test_a_token_with_a_malformed_generation_is_unauthorized(hostd, client, user, gen):
    token = forge(hostd.secret(), user["user"]["id"], gen=gen)
    assert_error(me(client, token), 401, "Unauthorized")


# --- password ---------------------------------------------------------------------------

def test_a_password_change_revokes_the_other_tokens_but_not_the_callers(client):
    email, (caller, other, third) = tokens_of_one_user(client, 3)
    for token in (caller, other, third):
        assert me(client, token).status_code == 200
    resp = change_password(client, caller, PASSWORD)
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"message"}
    assert me(client, caller).status_code == 200
    for token in (other, third):
        assert "revoked" in assert_error(me(client, token), 401, "Unauthorized")["message"]
    old = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert_error(old, 401, "AuthError")
    assert me(client, login(client, email, NEW_PASSWORD)).status_code == 200
    # The kept token is kept only until the next revocation of them all.
    assert client.post("/api/auth/logout-all", headers=auth(caller)).status_code == 200
    assert_error(me(client, caller), 401, "Unauthorized")


def test_a_wrong_current_password_is_auth_error_and_changes_nothing(client):
    email, (caller, other) = tokens_of_one_user(client, 2)
    for current in ("wrong-pass", PASSWORD + "x", "é" * 100):
        assert_error(change_password(client, caller, current), 401, "AuthError")
    assert me(client, caller).status_code == 200
    assert me(client, other).status_code == 200
    assert login(client, email)  # the password is what it was


@pytest.mark.parametrize(("new", "hint"), [("12345", "at least 6"), ("x" * 73, "bcrypt"),
                                           ("é" * 37, "bcrypt"), ("bad\ud800pass", "")])
def test_the_new_password_is_checked_as_at_registration(client, new, hint):
    email, (caller,) = tokens_of_one_user(client, 1)
    body = json.dumps({"current_password": PASSWORD, "new_password": new})
    resp = client.post("/api/auth/password", content=body,
                       headers={**auth(caller), "Content-Type": "application/json"})
    err = assert_error(resp, 400, "ValidationError")
    assert "new_password" in err["message"] and hint in err["message"]
    assert login(client, email)


@pytest.mark.parametrize("body", [{}, {"current_password": PASSWORD},
                                  {"new_password": NEW_PASSWORD},
                                  {"current_password": 5, "new_password": NEW_PASSWORD}])
def test_a_password_change_validates_its_body(client, user, body):
    resp = client.post("/api/auth/password", headers=user["headers"], json=body)
    assert_error(resp, 400, "ValidationError")


def test_a_password_change_needs_a_token(client):
    resp = client.post("/api/auth/password",
                       json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert_error(resp, 401, "Unauthorized")


def test_the_new_routes_are_documented(client):
    spec = client.get("/openapi.json").json()
    assert "requestBody" not in spec["paths"]["/api/auth/logout-all"]["post"]
    body = spec["paths"]["/api/auth/password"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/PasswordChange")
    assert "401" in spec["paths"]["/api/auth/password"]["post"]["responses"]


# --- streams end with their token ---------------------------------------------------------

def stream_client(server: HostdServer) -> httpx.Client:
    """Not client_for: its hook reads every answer whole, which a stream never is. A
    stream that does not end fails the test by this read timeout."""
    return httpx.Client(base_url=server.url, verify=tls(),
                        timeout=httpx.Timeout(10.0, read=STREAM_ENDS_WITHIN_S + 3))


def sse_events(resp: httpx.Response) -> Iterator[tuple[str, object]]:
    """(event, data) pairs, and ("", None) for each keep-alive comment."""
    name = None
    for line in resp.iter_lines():
        if line.startswith(":"):
            yield "", None
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name:
            yield name, json.loads(line.removeprefix("data: "))
            name = None


def until_closed(events: Iterator[tuple[str, object]]) -> tuple[list[tuple[str, object]], float]:
    """The events up to the stream's end, and how long it took to end."""
    start, rest = time.monotonic(), []
    for event in events:
        if time.monotonic() - start > STREAM_ENDS_WITHIN_S + 2:  # keep-alives keep coming
            pytest.fail(f"the stream did not end; it sent {rest}")
        if event[0]:
            rest.append(event)
    return rest, time.monotonic() - start


def test_an_event_stream_ends_within_seconds_of_logout(hostd):
    with stream_client(hostd) as c:
        token, _ = register(c)
        with c.stream("GET", EVENTS, headers=auth(token)) as resp:
            events = sse_events(resp)
            assert next(events)[0] == "connected"
            assert c.post("/api/auth/logout", headers=auth(token)).status_code == 200
            rest, took = until_closed(events)
    assert rest == [END_REVOKED]
    assert took < STREAM_ENDS_WITHIN_S


def test_a_stream_by_access_token_ends_with_logout_all_from_elsewhere(hostd):
    with stream_client(hostd) as c:
        _, (streaming, elsewhere) = tokens_of_one_user(c, 2)
        with c.stream("GET", EVENTS, params={"access_token": streaming}) as resp:
            events = sse_events(resp)
            assert next(events)[0] == "connected"
            assert c.post("/api/auth/logout-all", headers=auth(elsewhere)).status_code == 200
            rest, took = until_closed(events)
    assert rest == [END_REVOKED]
    assert took < STREAM_ENDS_WITHIN_S


def test_a_password_change_ends_the_other_streams_only(make_hostd):
    server = make_hostd(HOSTD_SSE_KEEPALIVE="0.5")
    with stream_client(server) as c:
        _, (caller, other) = tokens_of_one_user(c, 2)
        with c.stream("GET", EVENTS, headers=auth(caller)) as kept, \
                c.stream("GET", EVENTS, headers=auth(other)) as ended:
            kept_events, ended_events = sse_events(kept), sse_events(ended)
            assert next(kept_events)[0] == next(ended_events)[0] == "connected"
            assert change_password(c, caller, PASSWORD).status_code == 200
            rest, took = until_closed(ended_events)
            assert rest == [END_REVOKED] and took < STREAM_ENDS_WITHIN_S
            deadline, seen = time.monotonic() + 2.5, []
            while time.monotonic() < deadline:
                seen.append(next(kept_events))
    assert seen and all(event == ("", None) for event in seen)  # keep-alives, no `end`


def test_an_event_stream_ends_when_its_token_expires(make_hostd):
    server = make_hostd(JWT_EXPIRES_IN="3")
    with stream_client(server) as c:
        token, _ = register(c)
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        with c.stream("GET", EVENTS, headers=auth(token)) as resp:
            events = sse_events(resp)
            assert next(events)[0] == "connected"
            rest, _ = until_closed(events)
            ended = time.time()
    assert rest == [("end", {"reason": "The token has expired: log in again",
                              "error": "TokenExpired", "statusCode": 401})]
    assert expires - 0.1 <= ended < expires + STREAM_ENDS_WITHIN_S
    with stream_client(server) as c:  # and the stream let go of its subscription
        deadline = time.monotonic() + 5
        while c.get("/healthz").json()["subscribers"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/healthz").json()["subscribers"] == 0


@contextlib.contextmanager
def silent_git_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a clone from it hangs."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for sock in [*held, listener]:
            sock.close()


def test_a_followed_build_log_ends_with_its_token(make_hostd):
    server = make_hostd(HOSTD_ALLOW_PRIVATE_REPOS="true", HOSTD_CLONE_TIMEOUT="60")
    with silent_git_server() as port, stream_client(server) as c:
        _, (streaming, other) = tokens_of_one_user(c, 2)
        made = c.post("/api/projects", headers=auth(other), json={
            "name": "hangs", "github_url": f"http://127.0.0.1:{port}/r.git",
            "template": "static"})
        assert made.status_code == 201, made.text
        pid = made.json()["project"]["id"]
        params = {"source": "build", "follow": "true"}
        with c.stream("GET", f"/api/projects/{pid}/logs", params=params,
                      headers=auth(streaming)) as resp:
            assert resp.status_code == 200
            events = sse_events(resp)
            assert c.post("/api/auth/logout", headers=auth(streaming)).status_code == 200
            rest, took = until_closed(events)
        assert rest[-1] == END_REVOKED, rest
        assert took < STREAM_ENDS_WITHIN_S
        assert c.delete(f"/api/projects/{pid}", headers=auth(other)).status_code == 200
