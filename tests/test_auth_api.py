"""register / login / me / logout against a real daemon: tokens, revocation, forgeries."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from tests.support import auth, client_for, register, tls, unique_email

PASSWORD = "s3cret-pass"


def assert_error(resp: httpx.Response, status: int, name: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error", "message", "statusCode"}, body
    assert body["error"] == name
    assert body["statusCode"] == status
    assert isinstance(body["message"], str) and body["message"]
    return body


# --- register -------------------------------------------------------------------------

def test_register_returns_user_and_token(client):
    email = unique_email("reg")
    resp = client.post("/api/auth/register",
                       json={"email": email, "password": PASSWORD, "name": "  Ada   Lovelace "})
    assert resp.status_code == 201
    body = resp.json()
    assert set(body) == {"user", "token"}
    assert set(body["user"]) >= {"id", "email", "name"}
    assert body["user"]["email"] == email
    assert body["user"]["name"] == "Ada Lovelace"
    assert client.get("/api/auth/me", headers=auth(body["token"])).json()["user"] == body["user"]


def test_register_trims_and_lower_cases_the_email(client):
    email = unique_email("case")
    _, user = register(client, email=f"  {email.upper()}\t")
    assert user["email"] == email
    body = {"email": f" {email.title()} ", "password": PASSWORD}
    resp = client.post("/api/auth/login", json=body)
    assert resp.status_code == 200


def test_register_same_email_twice_is_a_conflict(client):
    email = unique_email("dup")
    register(client, email=email)
    resp = client.post("/api/auth/register",
                       json={"email": email.upper(), "password": "other-pass", "name": "B"})
    assert_error(resp, 409, "ConflictError")


@pytest.mark.parametrize("missing", ["email", "password", "name"])
def test_register_requires_every_field(client, missing):
    body = {"email": unique_email(), "password": PASSWORD, "name": "N"}
    del body[missing]
    err = assert_error(client.post("/api/auth/register", json=body), 400, "ValidationError")
    assert missing in err["message"]


@pytest.mark.parametrize(("field", "value", "hint"), [
    ("email", "not-an-email", "email"),
    ("email", "", "email"),
    ("email", "a@b", "email"),
    ("email", "x" * 250 + "@example.com", "email"),
    ("password", "12345", "at least 6"),
    ("password", "x" * 73, "bcrypt"),
    ("password", "é" * 37, "bcrypt"),  # 37 characters but 74 bytes
    ("name", "", "name"),
    ("name", "   ", "name"),
    ("name", "x" * 101, "name"),
    ("password", "abc\ud800def", "password"),
    ("name", "bell\x07", "name"),
    ("name", "lone \udfff", "name"),
])
def test_register_validates_each_field(client, field, value, hint):
    body = {"email": unique_email(), "password": PASSWORD, "name": "N"}
    body[field] = value
    err = assert_error(post_json(client, "/api/auth/register", body), 400, "ValidationError")
    assert hint in err["message"]
    assert field in err["message"]


@pytest.mark.parametrize("field", ["email", "password", "name"])
@pytest.mark.parametrize("value", [123, None, True, ["a"], {"a": 1}])
def test_register_refuses_wrong_json_types(client, field, value):
    body = {"email": unique_email(), "password": PASSWORD, "name": "N"}
    body[field] = value
    err = assert_error(client.post("/api/auth/register", json=body), 400, "ValidationError")
    assert field in err["message"]


def test_password_of_exactly_72_bytes_works(client):
    email, password = unique_email(), "é" * 36
    register(client, email=email, password=password)
    resp = client.post("/api/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200


def test_twenty_concurrent_registrations_of_one_email_make_one_account(hostd):
    email = unique_email("race")
    barrier = threading.Barrier(20)

    def attempt(i: int) -> httpx.Response:
        with httpx.Client(base_url=hostd.url, timeout=30, verify=tls()) as c:
            barrier.wait(timeout=10)
            body = {"email": email, "password": f"password-{i}", "name": f"Racer {i}"}
            return c.post("/api/auth/register", json=body)

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(attempt, range(20)))
    assert sorted(r.status_code for r in answers) == [201] + [409] * 19
    for lost in (r for r in answers if r.status_code != 201):  # never a 500 (PostgreSQL too)
        assert_error(lost, 409, "ConflictError")
    with client_for(hostd) as c:
        logins = [c.post("/api/auth/login", json={"email": email, "password": f"password-{i}"})
                  for i in range(20)]
    assert [r.status_code for r in logins].count(200) == 1


def test_handles_derive_from_the_email(fresh_hostd):
    with client_for(fresh_hostd) as c:
        assert register(c, email="bob.smith+x@a.com")[1]["handle"] == "bob-smith-x"
        assert register(c, email="bob@a.com")[1]["handle"] == "bob"
        assert register(c, email="bob@elsewhere.org")[1]["handle"] == "bob-2"
        assert register(c, email="BOB@third.net")[1]["handle"] == "bob-3"
        assert register(c, email="bob.smith+x@b.com")[1]["handle"] == "bob-smith-x-2"


# --- login ----------------------------------------------------------------------------

def test_login_returns_user_and_a_new_token(client):
    email = unique_email("login")
    token, user = register(client, email=email)
    resp = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"user", "token"}
    assert body["user"] == user
    assert body["token"] != token


def post_json(client: httpx.Client, path: str, body: dict) -> httpx.Response:
    """POST with ASCII-escaped JSON, so a lone surrogate travels as `\\ud800`."""
    return client.post(path, content=json.dumps(body),
                       headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("password", [
    "wrong-pass", PASSWORD + "x", PASSWORD.upper(), "\x00" * 6,
    PASSWORD + "x" * 70,  # over bcrypt's 72 bytes: still a plain wrong password, never a 500
    "é" * 500,
])
def test_login_with_a_wrong_password_is_auth_error(client, password):
    email = unique_email("wrong")
    register(client, email=email)
    resp = post_json(client, "/api/auth/login", {"email": email, "password": password})
    assert_error(resp, 401, "AuthError")


def test_login_with_a_lone_surrogate_is_a_validation_error(client):
    resp = post_json(client, "/api/auth/login", {"email": unique_email(), "password": "\ud800abc"})
    assert "password" in assert_error(resp, 400, "ValidationError")["message"]


def test_login_matches_only_the_whole_72_byte_password(client):
    email, password = unique_email("long"), "p" * 72
    register(client, email=email, password=password)
    resp = client.post("/api/auth/login", json={"email": email, "password": password + "!"})
    assert_error(resp, 401, "AuthError")


def test_login_for_an_unknown_email_is_the_same_auth_error(client):
    email = unique_email("known")
    register(client, email=email)
    wrong = client.post("/api/auth/login", json={"email": email, "password": "nope-nope"}).json()
    unknown = client.post("/api/auth/login",
                          json={"email": unique_email("ghost"), "password": "nope-nope"})
    assert assert_error(unknown, 401, "AuthError") == wrong


@pytest.mark.parametrize("body", [{}, {"email": "a@b.co"}, {"password": "abcdef"},
                                  {"email": 5, "password": "abcdef"},
                                  {"email": "nope", "password": "abcdef"}])
def test_login_validates_its_body(client, body):
    assert_error(client.post("/api/auth/login", json=body), 400, "ValidationError")


# --- me and the bearer header -----------------------------------------------------------

def test_me_returns_the_caller(client, user):
    resp = client.get("/api/auth/me", headers=user["headers"])
    assert resp.status_code == 200
    assert resp.json() == {"user": user["user"]}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz",
                                    "Bearer not-a-jwt", "Bearer a.b.c", "Token abc"])
def test_me_without_a_valid_bearer_token_is_unauthorized(client, header):
    headers = {} if header is None else {"Authorization": header}
    assert_error(client.get("/api/auth/me", headers=headers), 401, "Unauthorized")


def test_bearer_scheme_is_case_insensitive(client, user):
    resp = client.get("/api/auth/me", headers={"Authorization": f"bearer {user['token']}"})
    assert resp.status_code == 200


# --- logout and revocation --------------------------------------------------------------

def test_logout_revokes_that_token_only(client):
    email = unique_email("logout")
    first, _ = register(client, email=email)
    second = client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json()
    resp = client.post("/api/auth/logout", headers=auth(first))
    assert resp.status_code == 200
    assert set(resp.json()) == {"message"}
    err = assert_error(client.get("/api/auth/me", headers=auth(first)), 401, "Unauthorized")
    assert "revoked" in err["message"]
    assert_error(client.get("/api/projects", headers=auth(first)), 401, "Unauthorized")
    assert_error(client.post("/api/auth/logout", headers=auth(first)), 401, "Unauthorized")
    assert client.get("/api/auth/me", headers=auth(second["token"])).status_code == 200


def test_logout_needs_a_token(client):
    assert_error(client.post("/api/auth/logout"), 401, "Unauthorized")


# --- the token itself -------------------------------------------------------------------

def test_token_claims(hostd, client):
    email = unique_email("claims")
    token, user = register(client, email=email)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(token, hostd.secret(), algorithms=["HS256"])
    assert claims["userId"] == user["id"]
    assert claims["email"] == email
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["exp"] - claims["iat"] == 7 * 86400  # JWT_EXPIRES_IN's default, 7d
    assert abs(claims["iat"] - time.time()) < 60
    other = client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json()
    assert jwt.decode(other["token"], options={"verify_signature": False})["jti"] != claims["jti"]


def forge(secret: str, user_id: str, **changes: object) -> str:
    now = datetime.now(UTC)
    claims = {"userId": user_id, "email": "x@example.com", "jti": "f" * 32,
              "iat": now, "exp": now + timedelta(hours=1)}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm="HS256")


def test_a_token_forged_with_the_real_secret_is_accepted(hostd, client, user):
    # The control for the forgeries below: only the changed part makes them fail.
    token = forge(hostd.secret(), user["user"]["id"], jti="control-" + "0" * 24)
    assert client.get("/api/auth/me", headers=auth(token)).status_code == 200


def test_expired_token_is_token_expired(hostd, client, user):
    past = datetime.now(UTC) - timedelta(minutes=5)
    token = forge(hostd.secret(), user["user"]["id"], iat=past - timedelta(hours=1), exp=past)
    assert_error(client.get("/api/auth/me", headers=auth(token)), 401, "TokenExpired")


def test_token_from_a_short_lifetime_expires(make_hostd):
    server = make_hostd(JWT_EXPIRES_IN="1")
    with client_for(server) as c:
        token, _ = register(c)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            resp = c.get("/api/auth/me", headers=auth(token))
            if resp.status_code != 200:
                break
            time.sleep(0.2)
        assert_error(resp, 401, "TokenExpired")


def test_token_signed_with_another_secret_is_unauthorized(client, user):
    token = forge("not-the-daemon-secret-at-all-0123456789", user["user"]["id"])
    assert_error(client.get("/api/auth/me", headers=auth(token)), 401, "Unauthorized")


def test_expired_token_with_a_wrong_secret_is_unauthorized_not_expired(client, user):
    past = datetime.now(UTC) - timedelta(minutes=5)
    token = forge("not-the-daemon-secret-at-all-0123456789", user["user"]["id"],
                  iat=past - timedelta(hours=1), exp=past)
    assert_error(client.get("/api/auth/me", headers=auth(token)), 401, "Unauthorized")


def test_alg_none_token_is_unauthorized(client, user):
    now = int(time.time())
    claims = {"userId": user["user"]["id"], "email": user["user"]["email"], "jti": "n" * 32,
              "iat": now, "exp": now + 3600}
    token = jwt.encode(claims, None, algorithm="none")
    assert token.endswith(".")
    assert_error(client.get("/api/auth/me", headers=auth(token)), 401, "Unauthorized")


def test_other_hmac_algorithm_with_the_real_secret_is_unauthorized(hostd, client, user):
    now = int(time.time())
    claims = {"userId": user["user"]["id"], "jti": "h" * 32, "iat": now, "exp": now + 3600}
    token = jwt.encode(claims, hostd.secret(), algorithm="HS512")
    assert_error(client.get("/api/auth/me", headers=auth(token)), 401, "Unauthorized")


@pytest.mark.parametrize("change", [
    {"jti": None}, {"exp": None}, {"iat": None}, {"userId": None}, {"userId": 12345},
    {"jti": 7}, {"userId": "no-such-user"},
])
def test_token_with_bad_claims_is_unauthorized(hostd, client, user, change):
    token = forge(hostd.secret(), user["user"]["id"], **change)
    assert_error(client.get("/api/auth/me", headers=auth(token)), 401, "Unauthorized")


def test_tampered_payload_is_unauthorized(client, user, other_user):
    header, _, signature = user["token"].split(".")
    other_payload = other_user["token"].split(".")[1]
    token = f"{header}.{other_payload}.{signature}"
    assert_error(client.get("/api/auth/me", headers=auth(token)), 401, "Unauthorized")
