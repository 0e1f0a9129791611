"""The HTTP surface: error bodies for malformed requests, size limits, unknown routes,
CORS, /healthz, /openapi.json, and the access log (and what must never be in it)."""

from __future__ import annotations

import json
import re
import socket
import uuid

import httpx
import pytest

from tests.support import (
    FRONTEND_URL,
    HASH_LEAK,
    MAX_BODY_BYTES,
    auth,
    client_for,
    register,
    unique_email,
)
from tests.test_auth_api import assert_error

MIB = 1024 * 1024
REGISTER = "/api/auth/register"


def raw_post(client: httpx.Client, path: str, content: bytes, **headers: str) -> httpx.Response:
    return client.post(path, content=content,
                       headers={"Content-Type": "application/json", **headers})


# --- malformed bodies -------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    b"{bad", b"", b"{", b'{"email": "a@b.co",}', b"\xff\xfe\x00", b"nul\x00l", b"{'a': 1}",
])
def test_malformed_json_is_400(client, content):
    assert_error(raw_post(client, REGISTER, content), 400, "ValidationError")


@pytest.mark.parametrize("content", [b"[]", b"[1, 2]", b"42", b'"text"', b"null", b"true"])
def test_a_body_that_is_not_an_object_is_400(client, content):
    err = assert_error(raw_post(client, REGISTER, content), 400, "ValidationError")
    assert "object" in err["message"] or "required" in err["message"]


def test_hostile_json_is_a_400_not_a_crash(client, user):
    cases = [
        b"[" * 100_000 + b"]" * 100_000,                       # nesting past the recursion limit
        b'{"email": ' + b"9" * 50_000 + b"}",                  # an integer past int's digit limit
        b'{"email": 1e999, "password": NaN, "name": Infinity}',
        json.dumps({"email": "a@b.co", "password": "p" * 5000, "name": "n" * 5000}).encode(),
    ]
    for content in cases:
        for path in (REGISTER, "/api/auth/login", "/api/projects"):
            resp = raw_post(client, path, content, **user["headers"])
            assert_error(resp, 400, "ValidationError")


def test_form_encoded_body_is_415_json(client):
    # A 400 before bodies had to say application/json (tests/test_origin.py has the rest).
    resp = client.post(REGISTER, data={"email": "a@b.co", "password": "abcdef", "name": "n"})
    assert_error(resp, 415, "UnsupportedMediaType")


# --- size limit -------------------------------------------------------------------------

def test_body_over_the_limit_by_content_length_is_413(client, user):
    big = b'{"email": "' + b"a" * MIB + b'"}'
    for path, headers in ((REGISTER, {}), ("/api/projects", user["headers"]),
                          ("/no-such-route", {})):
        err = assert_error(raw_post(client, path, big, **headers), 413, "PayloadTooLarge")
        assert str(MIB) in err["message"]


def test_body_over_the_limit_chunked_is_413(client, user):
    def chunks():
        for _ in range(24):  # 24 x 64 KiB = 1.5 MiB, no Content-Length
            yield b"a" * 65536

    for path, headers in ((REGISTER, {}), ("/api/projects", user["headers"])):
        resp = client.post(path, content=chunks(),
                           headers={"Content-Type": "application/json", **headers})
        assert "content-length" not in resp.request.headers
        assert resp.request.headers["transfer-encoding"] == "chunked"
        assert_error(resp, 413, "PayloadTooLarge")


def test_body_just_under_the_limit_is_parsed(client):
    body = json.dumps({"email": "nope", "password": "abcdef", "name": "n", "pad": "x"})
    body = body[:-1] + " " * (MIB - len(body)) + "}"
    assert len(body) == MIB
    assert_error(raw_post(client, REGISTER, body.encode()), 400, "ValidationError")


def test_the_limit_is_configurable(configured_hostd):
    assert MAX_BODY_BYTES == 2048
    with client_for(configured_hostd) as c:
        body = {"email": unique_email(), "password": "abcdef", "name": "x" * 1500}
        assert_error(c.post(REGISTER, json=body), 400, "ValidationError")  # name too long
        body["name"] = "x" * 3000
        assert_error(c.post(REGISTER, json=body), 413, "PayloadTooLarge")


# --- routes and methods -----------------------------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/api", "/api/auth", "/api/auth/nope",
                                  "/api/projects/a/b/c", "/index.html", "/docs/../etc/passwd"])
def test_unknown_route_is_404_json(client, path):
    err = assert_error(client.get(path), 404, "NotFound")
    assert "<" not in err["message"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/auth/register"), ("PUT", "/api/auth/login"), ("DELETE", "/api/auth/me"),
    ("GET", "/api/auth/logout"), ("PUT", "/api/projects"), ("DELETE", "/api/projects"),
    ("POST", "/api/projects/abc"), ("POST", "/healthz"),
])
def test_wrong_method_is_405_json(client, method, path):
    resp = client.request(method, path)
    err = assert_error(resp, 405, "MethodNotAllowed")
    assert method in err["message"]
    assert "allow" in resp.headers


def test_errors_are_json_even_when_html_is_asked_for(client):
    headers = {"Accept": "text/html"}
    for method, path in (("GET", "/nope"), ("PUT", "/api/auth/me"), ("GET", "/api/auth/me")):
        resp = client.request(method, path, headers=headers)
        assert resp.status_code >= 400
        assert resp.headers["content-type"] == "application/json"
        assert "<html" not in resp.text.lower()


def test_malformed_http_gets_no_traceback(hostd):
    """Bytes that are not HTTP at all: uvicorn answers 400 or closes; never a traceback."""
    for payload in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                    b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{"):
        with socket.create_connection(("127.0.0.1", hostd.port), timeout=5) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert b"Traceback" not in reply
        assert b"File \"" not in reply


# --- CORS -------------------------------------------------------------------------------

def preflight(c: httpx.Client, origin: str) -> httpx.Response:
    return c.options("/api/projects", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })


def test_cors_preflight_from_the_frontend_is_allowed_with_credentials(configured_hostd):
    with client_for(configured_hostd) as c:
        resp = preflight(c, FRONTEND_URL)
        assert resp.status_code == 200
        assert resp.headers["access-control-allow-origin"] == FRONTEND_URL
        assert resp.headers["access-control-allow-credentials"] == "true"
        assert "POST" in resp.headers["access-control-allow-methods"]
        assert "authorization" in resp.headers["access-control-allow-headers"].lower()
        token, _ = register(c)
        resp = c.get("/api/auth/me", headers={"Origin": FRONTEND_URL, **auth(token)})
        assert resp.headers["access-control-allow-origin"] == FRONTEND_URL
        assert resp.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:5174",
                                    "https://localhost:5173", "null"])
def test_cors_other_origins_get_no_allow_origin(configured_hostd, origin):
    with client_for(configured_hostd) as c:
        resp = preflight(c, origin)
        assert resp.status_code >= 400
        assert "access-control-allow-origin" not in resp.headers
        assert_error(resp, resp.status_code, resp.json()["error"])  # still the JSON error body
        resp = c.get("/healthz", headers={"Origin": origin})
        assert resp.status_code == 200
        assert "access-control-allow-origin" not in resp.headers


def test_without_frontend_url_no_origin_is_allowed(client):
    resp = preflight(client, FRONTEND_URL)
    assert "access-control-allow-origin" not in resp.headers
    assert resp.headers["content-type"] == "application/json"
    assert "access-control-allow-origin" not in client.get(
        "/healthz", headers={"Origin": FRONTEND_URL}).headers


# --- health and OpenAPI -------------------------------------------------------------------

def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["database"] == "ok" and body["docker"] in ("ok", "unreachable")
    assert body["status"] == ("ok" if body["docker"] == "ok" else "degraded")


ROUTES = {
    ("post", "/api/auth/register"): ("RegisterBody", "201", "AuthResponse"),
    ("post", "/api/auth/login"): ("LoginBody", "200", "AuthResponse"),
    ("get", "/api/auth/me"): (None, "200", "UserResponse"),
    ("post", "/api/auth/logout"): (None, "200", "Message"),
    ("post", "/api/auth/logout-all"): (None, "200", "Message"),
    ("post", "/api/auth/password"): ("PasswordChange", "200", "Message"),
    ("get", "/api/projects"): (None, "200", "ProjectList"),
    ("post", "/api/projects"): ("ProjectCreate", "201", "ProjectResponse"),
    ("get", "/api/projects/{project_id}"): (None, "200", "ProjectResponse"),
    ("delete", "/api/projects/{project_id}"): (None, "200", "Message"),
    ("get", "/api/projects/{project_id}/cron"): (None, "200", "CronJobList"),
    ("get", "/api/projects/{project_id}/cron/{job_id}/runs"): (None, "200", "CronRunList"),
    ("post", "/api/projects/{project_id}/cron/{job_id}/run"): (None, "202", "CronRunStarted"),
    ("get", "/healthz"): (None, "200", "Health"),
}


def ref_name(node: dict) -> str:
    return node["$ref"].rsplit("/", 1)[-1]


def test_openapi_lists_every_route_with_its_models(client):
    spec = client.get("/openapi.json").json()
    for (method, path), (request, status, response) in ROUTES.items():
        operation = spec["paths"][path][method]
        if request:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert ref_name(schema) == request
        else:
            assert "requestBody" not in operation
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert ref_name(schema) == response
        if path.startswith("/api/"):
            error = operation["responses"]["401"]["content"]["application/json"]["schema"]
            assert ref_name(error) == "ErrorBody"
    schemas = spec["components"]["schemas"]
    assert set(schemas["ErrorBody"]["properties"]) == {"error", "message", "statusCode"}
    assert "password_hash" not in json.dumps(spec)
    assert set(schemas["UserPublic"]["properties"]) >= {"id", "email", "name"}


def test_openapi_has_no_route_it_does_not_document(client):
    spec = client.get("/openapi.json").json()
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert set(ROUTES) <= documented


# --- the access log -----------------------------------------------------------------------

ACCESS = r"hostd\.access: {method} {path} {status} \d+(\.\d+)?ms$"


def test_access_log_has_one_line_per_request(hostd, client, user):
    marker = uuid.uuid4().hex
    paths = [f"/nope-{marker}", f"/api/projects/{marker}"]
    client.get(paths[0])
    client.get(paths[1], headers=user["headers"])
    client.get(paths[1] + "?token=do-not-log-" + marker, headers=user["headers"])
    hostd.wait_for_log(ACCESS.format(method="GET", path=re.escape(paths[0]), status=404))
    hostd.wait_for_log(ACCESS.format(method="GET", path=re.escape(paths[1]), status=404),
                       count=2)
    logs = hostd.logs()
    assert len(re.findall(rf"hostd\.access: GET /nope-{marker} ", logs)) == 1
    assert len(re.findall(rf"hostd\.access: GET /api/projects/{marker} ", logs)) == 2
    assert "do-not-log" not in logs  # the query string never reaches the log


def test_access_log_counts_every_request(configured_hostd):
    server = configured_hostd
    with client_for(server) as c:
        before = server.logs().count("hostd.access:")
        token, _ = register(c)
        c.get("/api/auth/me", headers=auth(token))
        c.get("/api/projects", headers=auth(token))
        c.post("/api/auth/login", json={"email": "x@y.zz", "password": "nopenope"})
        c.post(REGISTER, content=b"{bad", headers={"Content-Type": "application/json"})
        c.put("/healthz")
    server.wait_for_log(ACCESS.format(method="PUT", path="/healthz", status=405))
    lines = server.logs().splitlines()
    access = [line for line in lines if "hostd.access:" in line]
    assert len(access) - before == 6
    assert [line.split("hostd.access: ")[1].rsplit(" ", 1)[0] for line in access[before:]] == [
        "POST /api/auth/register 201", "GET /api/auth/me 200", "GET /api/projects 200",
        "POST /api/auth/login 401", "POST /api/auth/register 400", "PUT /healthz 405"]


def test_no_token_password_or_hash_in_the_log(hostd, client):
    password = "pw-" + uuid.uuid4().hex
    email = unique_email("logged")
    token, _ = register(client, email=email, password=password)
    login = client.post("/api/auth/login", json={"email": email, "password": password}).json()
    client.post("/api/auth/login", json={"email": email, "password": password + "-wrong"})
    client.post(REGISTER, json={"email": email, "password": password, "name": "again"})
    client.post(REGISTER, json={"email": "bad", "password": password, "name": "x"})
    client.post(REGISTER, json={"email": unique_email(), "password": password + "x" * 80,
                                "name": "long"})
    client.get("/api/auth/me", headers=auth(token + "tampered"))
    client.post("/api/auth/logout", headers=auth(login["token"]))
    client.get("/api/auth/me", headers=auth(login["token"]))
    hostd.wait_for_log(ACCESS.format(method="GET", path="/api/auth/me", status=401))
    logs = hostd.logs()
    for secret in (password, token, login["token"], token.split(".")[2]):
        assert secret not in logs
    assert not HASH_LEAK.search(logs)
    assert "eyJ" not in logs  # no JWT of any kind
