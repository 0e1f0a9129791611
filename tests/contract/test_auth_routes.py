"""The contract's `/api/auth` routes and its 401s, black-box over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.contract.api import (
    PASSWORD,
    Account,
    assert_error,
    assert_user,
    bearer,
    claims,
    unique_email,
)
from tests.contract.conftest import Target

REGISTER, LOGIN, ME, LOGOUT = ("/api/auth/register", "/api/auth/login", "/api/auth/me",
                               "/api/auth/logout")


@pytest.fixture
def client(target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.url, timeout=30.0) as client:
        yield client


def test_register_answers_201_with_the_user_and_a_token(client, target):
    email = unique_email()
    resp = client.post(REGISTER, json={"email": email, "password": PASSWORD, "name": "Ada"})
    assert resp.status_code == 201, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"user", "token"}
    assert_user(body["user"], email, "Ada")
    token = claims(body["token"])
    assert set(token) >= {"userId", "email", "exp", "jti"}, token
    assert (token["userId"], token["email"]) == (body["user"]["id"], email)
    assert token["exp"] > time.time()


def test_register_twice_is_409(client, target):
    account = Account(client, target.repo)
    resp = client.post(REGISTER, json={"email": account.email, "password": PASSWORD,
                                       "name": "Again"})
    assert_error(resp, 409, "ConflictError")


@pytest.mark.parametrize("body", [
    {"password": PASSWORD, "name": "No Email"},
    {"email": "no-password@example.com", "name": "No Password"},
    {"email": "no-name@example.com", "password": PASSWORD},
    {"email": "", "password": PASSWORD, "name": "Empty"},
    {"email": "short@example.com", "password": "12345", "name": "Short"},
    {},
])
def test_register_refuses_a_bad_body_with_400(client, body):
    assert_error(client.post(REGISTER, json=body), 400, "ValidationError")


def test_a_body_that_is_not_json_is_400(client):
    resp = client.post(REGISTER, content=b'{"email": "x@example.com",',
                       headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "ValidationError")


def test_six_characters_is_a_password(client):
    email = unique_email()
    resp = client.post(REGISTER, json={"email": email, "password": "123456", "name": "Six"})
    assert resp.status_code == 201, resp.text


def test_login_answers_the_user_and_a_new_token(client, target):
    account = Account(client, target.repo, name="Grace")
    resp = client.post(LOGIN, json={"email": account.email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"user", "token"}
    assert_user(body["user"], account.email, "Grace")
    assert body["user"]["id"] == account.id
    me = client.get(ME, headers=bearer(body["token"]))
    assert me.status_code == 200 and me.json()["user"]["id"] == account.id


def test_wrong_password_or_unknown_email_is_401_auth_error(client, target):
    account = Account(client, target.repo)
    for body in ({"email": account.email, "password": "not-the-password"},
                 {"email": unique_email("nobody"), "password": PASSWORD}):
        assert_error(client.post(LOGIN, json=body), 401, "AuthError")


@pytest.mark.parametrize("body", [{"email": "x@example.com"}, {"password": PASSWORD}, {}])
def test_login_refuses_a_bad_body_with_400(client, body):
    assert_error(client.post(LOGIN, json=body), 400, "ValidationError")


def test_me_answers_the_caller(client, target):
    account = Account(client, target.repo, name="Me Myself")
    resp = client.get(ME, headers=account.headers)
    assert resp.status_code == 200
    assert set(resp.json()) == {"user"}
    assert_user(resp.json()["user"], account.email, "Me Myself")


@pytest.mark.parametrize("path", [ME, "/api/projects", "/api/projects/some-id",
                                  "/api/containers/some-id/status"])
def test_missing_or_invalid_tokens_are_401_unauthorized(client, path):
    assert_error(client.get(path), 401, "Unauthorized")
    for header in ("Bearer not-a-jwt", "Bearer", "Basic dXNlcjpwYXNz",
                   "Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOiJ4In0.c2lnbmF0dXJl"):
        assert_error(client.get(path, headers={"Authorization": header}), 401, "Unauthorized")


def test_logout_revokes_the_token_and_only_it(client, target):
    account = Account(client, target.repo)
    other = client.post(LOGIN, json={"email": account.email, "password": PASSWORD}).json()
    resp = client.post(LOGOUT, headers=account.headers)
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"message"}
    for method, path in (("GET", ME), ("GET", "/api/projects"), ("POST", LOGOUT)):
        assert_error(client.request(method, path, headers=account.headers), 401,
                     "Unauthorized")
    assert client.get(ME, headers=bearer(other["token"])).status_code == 200


def test_an_expired_token_is_401_token_expired(short_lived):
    with httpx.Client(base_url=short_lived.url, timeout=30.0) as client:
        account = Account(client, short_lived.repo)
        deadline = time.monotonic() + 10
        while (resp := client.get(ME, headers=account.headers)).status_code == 200:
            assert time.monotonic() < deadline, "the token outlived JWT_EXPIRES_IN=1s"
            time.sleep(0.2)
        assert_error(resp, 401, "TokenExpired")


def test_unknown_routes_are_404_in_the_error_body(client):
    assert_error(client.get("/api/no-such-route"), 404, "NotFound")
