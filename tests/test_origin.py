"""The API trusts only its own origin: the Host names it answers to (DNS rebinding), bodies
only as application/json, and changes from no foreign Origin (hostd.api.origin, bodies)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import socket

import httpx
import pytest

import hostd.api.routes
from hostd.api.bodies import BodyTypedRoute, accepted_media_types, has_body, media_type
from hostd.api.origin import is_loopback
from tests.support import FRONTEND_URL, HostdServer, auth, client_for, register, unique_email
from tests.test_auth_api import assert_error

PASSWORD = "s3cret-pass"
NOWHERE = "file:///nonexistent/origin.git"


def register_body() -> bytes:
    return json.dumps({"email": unique_email("origin"), "password": PASSWORD,
                       "name": "O"}).encode()


def raw_request(server: HostdServer, head: bytes) -> tuple[int, bytes]:
    """Send one request exactly as given (httpx always adds a Host); the status and body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


# --- Host ---------------------------------------------------------------------------------

def foreign_hosts(server: HostdServer) -> list[str]:
    port = server.port
    return ["attacker.example", f"attacker.example:{port}", f"shop.alice.localhost:{port}",
            f"localhost:{port + 1}", f"127.0.0.1:{server.router_port}", f"localhost.:{port}",
            f"127.0.0.1.attacker.example:{port}", "10.0.0.1", f"[::2]:{port}", "a b", ""]


def test_a_foreign_host_is_400_on_every_kind_of_route(hostd, client, user):
    for host in foreign_hosts(hostd):
        for method, path in (("GET", "/healthz"), ("GET", "/api/auth/me"),
                             ("GET", "/api/projects"), ("POST", "/api/auth/register")):
            resp = client.request(method, path, headers={"Host": host, **user["headers"]},
                                  content=register_body() if method == "POST" else None)
            err = assert_error(resp, 400, "ValidationError")
            assert "HOSTD_ALLOWED_HOSTS" in err["message"], (host, err)
            assert "not one hostd answers to" in err["message"]


def test_a_rebound_name_gets_nothing_even_with_a_token(hostd, client, user):
    # What a DNS-rebinding page would send: the right token is no help with the wrong Host.
    resp = client.get("/api/projects", headers={"Host": f"rebind.example:{hostd.port}",
                                                **user["headers"]})
    assert_error(resp, 400, "ValidationError")
    assert "projects" not in resp.json()


def test_loopback_names_are_answered(hostd, client, user):
    port = hostd.port
    for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "localhost",
                 f"LOCALHOST:{port}", f"127.8.9.10:{port}", f"[::1]:{port}", "[::1]"):
        resp = client.get("/api/auth/me", headers={"Host": host, **user["headers"]})
        assert resp.status_code == 200, (host, resp.text)


def test_a_request_without_host_or_with_two_is_400(hostd):
    status, body = raw_request(hostd, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status == 400
    assert json.loads(body)["error"] == "ValidationError"
    assert "no Host" in json.loads(body)["message"]
    two = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{hostd.port}\r\nHost: evil.example\r\n"
    status, body = raw_request(hostd, two.encode() + b"Connection: close\r\n\r\n")
    assert status == 400 and json.loads(body)["error"] == "ValidationError"
    # HTTP/1.0 may omit Host (no browser does): the control that the route itself works.
    status, body = raw_request(hostd, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status == 200 and json.loads(body)["database"] == "ok"


def test_hostd_allowed_hosts_adds_names(make_hostd):
    server = make_hostd(HOSTD_ALLOWED_HOSTS="hostd.example, Other.Example:8443 [fd00::1]")
    port = server.port
    with client_for(server) as c:
        for host in (f"hostd.example:{port}", "hostd.example", "HOSTD.example",
                     "other.example:8443", f"[fd00::1]:{port}", f"localhost:{port}"):
            assert c.get("/healthz", headers={"Host": host}).status_code == 200, host
        for host in ("hostd.example:8443", f"other.example:{port}", "other.example",
                     f"sub.hostd.example:{port}", f"attacker.example:{port}"):
            assert_error(c.get("/healthz", headers={"Host": host}), 400, "ValidationError")


def test_is_loopback():
    assert all(map(is_loopback, ["localhost", "127.0.0.1", "127.255.0.9", "::1"]))
    assert not any(map(is_loopback, ["x.localhost", "localhost.", "127.1", "0177.0.0.1",
                                     "128.0.0.1", "::2", "example.com"]))


# --- Content-Type -------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", [None, "text/plain", "text/plain; charset=utf-8",
                                          "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx",
                                          "application/merge-patch+json", "json"])
def test_a_json_body_must_say_application_json(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    resp = client.post("/api/auth/register", content=register_body(), headers=headers)
    err = assert_error(resp, 415, "UnsupportedMediaType")
    assert "application/json" in err["message"]


def test_every_body_route_refuses_a_body_without_a_content_type(client, user):
    project = client.post("/api/projects", headers=user["headers"], json={
        "name": "typed", "github_url": NOWHERE, "template": "static"}).json()["project"]
    pid = project["id"]
    for method, path, body in (
        ("POST", "/api/auth/login", {"email": user["user"]["email"], "password": PASSWORD}),
        ("POST", "/api/projects", {"name": "x", "github_url": NOWHERE, "template": "static"}),
        ("PATCH", f"/api/projects/{pid}", {"health_path": "/up"}),
        ("PATCH", f"/api/projects/{pid}/status", {"status": "stopped"}),
        ("PATCH", f"/api/projects/{pid}/env", {"env": {"A": "1"}}),
        ("POST", f"/api/projects/{pid}/rollback", {}),
        ("POST", f"/api/containers/{pid}/stop", {}),
        ("DELETE", f"/api/projects/{pid}", {}),
    ):
        resp = client.request(method, path, content=json.dumps(body).encode(),
                              headers=user["headers"])
        assert_error(resp, 415, "UnsupportedMediaType")
    assert client.get(f"/api/projects/{pid}/env", headers=user["headers"]).json()["env"] == {}
    assert client.get(f"/api/projects/{pid}", headers=user["headers"]).status_code == 200


def test_a_chunked_body_without_a_content_type_is_415(client):
    def chunks():
        yield register_body()

    resp = client.post("/api/auth/register", content=chunks())
    assert resp.request.headers["transfer-encoding"] == "chunked"
    assert_error(resp, 415, "UnsupportedMediaType")


def test_application_json_with_parameters_is_taken(client):
    for content_type in ("application/json", "application/json; charset=utf-8",
                         "Application/JSON;charset=UTF-8"):
        resp = client.post("/api/auth/register", content=register_body(),
                           headers={"Content-Type": content_type})
        assert resp.status_code == 201, (content_type, resp.text)


def test_requests_without_a_body_need_no_content_type(client, user):
    project = client.post("/api/projects", headers=user["headers"], json={
        "name": "bodyless", "github_url": NOWHERE, "template": "static"}).json()["project"]
    pid = project["id"]
    rollback = client.post(f"/api/projects/{pid}/rollback", headers=user["headers"])
    assert rollback.status_code not in (400, 415), rollback.text  # 409: nothing to go back to
    assert client.post(f"/api/projects/{pid}/deploy", headers=user["headers"]).status_code == 202
    resp = client.delete(f"/api/projects/{pid}", headers=user["headers"])
    assert resp.status_code == 200, resp.text
    token, _ = register(client)
    assert client.post("/api/auth/logout", headers=auth(token)).status_code == 200


def test_media_types_a_route_takes():
    assert accepted_media_types(None) == {"application/json"}
    upload = {"requestBody": {"content": {"application/gzip": {"schema": {"type": "string"}}}}}
    assert accepted_media_types(upload) == {"application/gzip"}
    assert media_type(" Application/JSON ; charset=utf-8") == "application/json"
    assert has_body(httpx.Headers({"content-length": "2"}))
    assert has_body(httpx.Headers({"transfer-encoding": "chunked"}))
    assert not has_body(httpx.Headers({"content-length": "0"}))
    assert not has_body(httpx.Headers({}))


def test_every_router_types_its_bodies():
    modules = [importlib.import_module(f"hostd.api.routes.{info.name}")
               for info in pkgutil.iter_modules(hostd.api.routes.__path__)]
    routes = [route for module in modules for route in module.router.routes]
    assert len(routes) >= 20
    assert [r.path for r in routes if not isinstance(r, BodyTypedRoute)] == []


# --- Origin -------------------------------------------------------------------------------

def foreign_origins(server: HostdServer) -> list[str]:
    return ["http://evil.example", f"http://shop.alice.localhost:{server.router_port}",
            "http://localhost:5174", "https://localhost:5173", "null",
            f"http://localhost:{server.port}.evil.example", f"http://127.0.0.1:{server.port + 1}"]


def test_a_change_from_a_foreign_origin_is_403(configured_hostd):
    with client_for(configured_hostd) as c:
        token, _ = register(c)
        for origin in foreign_origins(configured_hostd):
            resp = c.post("/api/auth/register", content=register_body(),
                          headers={"Origin": origin, "Content-Type": "application/json"})
            err = assert_error(resp, 403, "Forbidden")
            assert "origin" in err["message"] and "FRONTEND_URL" in err["message"]
            resp = c.post("/api/auth/logout", headers={"Origin": origin, **auth(token)})
            assert_error(resp, 403, "Forbidden")
        assert c.get("/api/auth/me", headers=auth(token)).status_code == 200  # not logged out


def test_a_foreign_origin_cannot_delete_or_change_a_project(configured_hostd):
    with client_for(configured_hostd) as c:
        token, _ = register(c)
        headers = {**auth(token), "Origin": "http://evil.example"}
        made = c.post("/api/projects", headers=auth(token), json={
            "name": "keep", "github_url": "https://example.com/keep.git", "template": "static"})
        pid = made.json()["project"]["id"]
        assert_error(c.delete(f"/api/projects/{pid}", headers=headers), 403, "Forbidden")
        assert_error(c.patch(f"/api/projects/{pid}", headers=headers,
                             json={"health_path": "/evil"}), 403, "Forbidden")
        project = c.get(f"/api/projects/{pid}", headers=auth(token)).json()["project"]
        assert project["health_path"] == "/"


def test_changes_from_the_frontend_own_origin_or_no_origin_pass(configured_hostd):
    port = configured_hostd.port
    with client_for(configured_hostd) as c:
        for origin in (FRONTEND_URL, None, f"http://127.0.0.1:{port}"):
            headers = {"Origin": origin} if origin else {}
            resp = c.post("/api/auth/register", content=register_body(),
                          headers={"Content-Type": "application/json", **headers})
            assert resp.status_code == 201, (origin, resp.text)
        # Its own origin is the one the request names in Host (e.g. /docs opened on localhost).
        resp = c.post("/api/auth/register", content=register_body(), headers={
            "Host": f"localhost:{port}", "Origin": f"http://localhost:{port}",
            "Content-Type": "application/json"})
        assert resp.status_code == 201, resp.text


def test_reads_from_a_foreign_origin_still_answer_without_cors(configured_hostd):
    # The browser hides the answer (no Access-Control-Allow-Origin); hostd need not refuse it.
    with client_for(configured_hostd) as c:
        token, _ = register(c)
        resp = c.get("/api/auth/me", headers={"Origin": "http://evil.example", **auth(token)})
        assert resp.status_code == 200
        assert "access-control-allow-origin" not in resp.headers


def test_refusals_are_documented(client):
    spec = client.get("/openapi.json").json()
    for method, path in (("post", "/api/projects"), ("post", "/api/auth/register"),
                         ("delete", "/api/projects/{project_id}")):
        responses = spec["paths"][path][method]["responses"]
        for status in ("403", "415"):
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/ErrorBody")
