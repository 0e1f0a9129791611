"""A replaced container drains before it goes: a slow request that started before the
switch completes with 200, a WebSocket-style tunnel opened before it stays open (and
works) until HOSTD_DRAIN_TIMEOUT, and a redeployed project reads `running` throughout.
Run with two router worker processes, so every worker's answer counts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.deploy.test_zero_downtime import commit, first_release
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, auth, register, tls

DRAIN_TIMEOUT_S = 4.0
SLOW_S = 3.0
# An app with a slow endpoint and an upgrade that echoes bytes back: a tunnel, as a
# WebSocket is to the router (it only relays bytes once the app answers 101).
SERVER_JS = """\
const fs = require("fs");
const version = fs.readFileSync(__dirname + "/VERSION", "utf8") + (process.env.GREETING || "");
const server = require("http").createServer((req, res) => {
  if (req.url === "/slow") { setTimeout(() => res.end("slow " + version), SLOW_MS); return; }
  res.end(version);
});
server.on("upgrade", (req, sock) => {
  sock.write("HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\n" +
             "Connection: Upgrade\\r\\n\\r\\n");
  sock.on("data", (d) => sock.write(version + ":" + d));
});
server.listen(process.env.PORT);
""".replace("SLOW_MS", str(int(SLOW_S * 1000)))


@pytest.fixture
def drained(engine: docker.DockerClient, base_images: None,
            tmp_path: Path) -> Iterator[tuple[HostdServer, httpx.Client]]:
    with own_daemon(engine, tmp_path / "data", HOSTD_ROUTER_WORKERS="2",
                    HOSTD_DRAIN_TIMEOUT=str(DRAIN_TIMEOUT_S)) as server, \
            httpx.Client(base_url=server.url, timeout=90, verify=tls()) as api:
        token, _ = register(api)
        api.headers.update(auth(token))
        yield server, api


def deploy_app(api: httpx.Client, tmp_path: Path, name: str) -> tuple[dict, Path]:
    return first_release(api, tmp_path, name, SERVER_JS)


def host_of(project: dict) -> str:
    return project["url"].removeprefix("http://").split(":")[0]


def open_tunnel(server: HostdServer, project: dict) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.router_port), timeout=10)
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host_of(project)}\r\nUpgrade: echo\r\n"
                 "Connection: Upgrade\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def echo(sock: socket.socket, text: str) -> str:
    """What the app sends back for `text`, or '' once the tunnel is closed."""
    try:
        sock.sendall(text.encode())
        return sock.recv(4096).decode()
    except OSError:
        return ""


def test_a_slow_request_started_before_a_restart_completes(drained, tmp_path) -> None:
    server, api = drained
    project, _ = deploy_app(api, tmp_path, "slowpoke")
    result: list[httpx.Response | Exception] = []

    def slow_get() -> None:
        with httpx.Client(timeout=30, verify=tls()) as client:
            try:
                result.append(client.get(f"http://127.0.0.1:{server.router_port}/slow",
                                         headers={"Host": host_of(project)}))
            except httpx.HTTPError as exc:
                result.append(exc)

    thread = threading.Thread(target=slow_get)
    thread.start()
    time.sleep(0.5)  # under way in the old container
    assert api.post(f"/api/containers/{project['id']}/restart").status_code == 200
    thread.join(timeout=30)
    (reply,) = result
    assert isinstance(reply, httpx.Response), reply
    assert reply.status_code == 200 and reply.text == "slow v1", reply.text


def test_a_tunnel_opened_before_a_switch_stays_open_until_the_drain_timeout(
        drained, tmp_path) -> None:
    server, api = drained
    project, _ = deploy_app(api, tmp_path, "tunnels")
    sock = open_tunnel(server, project)
    try:
        assert echo(sock, "a") == "v1:a"
        resp = api.patch(f"/api/projects/{project['id']}/env", json={"env": {"GREETING": "+"}})
        assert resp.status_code == 200, resp.text
        switched = time.monotonic()
        with httpx.Client(timeout=10, verify=tls()) as client:  # new requests: the new one
            fresh = client.get(f"http://127.0.0.1:{server.router_port}/",
                               headers={"Host": host_of(project)})
        assert fresh.text == "v1+"
        time.sleep(DRAIN_TIMEOUT_S / 2)
        assert echo(sock, "b") == "v1:b", "the tunnel closed before the drain timeout"
        sock.settimeout(DRAIN_TIMEOUT_S + 10)
        closed = echo(sock, "c") == "" or sock.recv(4096) == b""
        assert closed and time.monotonic() - switched < DRAIN_TIMEOUT_S + 10
    finally:
        sock.close()


def test_a_redeployed_project_reads_running_throughout(drained, tmp_path) -> None:
    server, api = drained
    project, root = deploy_app(api, tmp_path, "always")
    commit(root, {"VERSION": "v2"})
    seen: list[tuple[str, bool]] = []
    assert api.post(f"/api/projects/{project['id']}/deploy").status_code == 202
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = api.get(f"/api/projects/{project['id']}").json()["project"]
        seen.append((now["status"], now["deploying"]))
        if not now["deploying"]:
            break
        time.sleep(0.05)
    assert {status for status, _ in seen} == {"running"}, seen
    assert seen[0][1] is True and seen[-1][1] is False
    with httpx.Client(timeout=10, verify=tls()) as client:
        assert client.get(f"http://127.0.0.1:{server.router_port}/",
                          headers={"Host": host_of(project)}).text == "v2"


def requests_metric(api: httpx.Client, project_id: str, wanted: int) -> int:
    """The project's `requests` once it reads `wanted` (or what it reads after 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        seen = api.get(f"/api/projects/{project_id}").json()["project"]["metrics"]["requests"]
        if seen == wanted or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_requests_keep_counting_across_a_restart_and_restart_with_a_new_release(
        drained, tmp_path) -> None:
    server, api = drained
    project, _ = deploy_app(api, tmp_path, "counted")
    pid = project["id"]

    def hit(times: int) -> None:
        with httpx.Client(timeout=10, verify=tls(), headers={"Host": host_of(project)}) as client:
            for _ in range(times):
                assert client.get(f"http://127.0.0.1:{server.router_port}/").status_code == 200

    hit(5)
    assert requests_metric(api, pid, 5) == 5
    assert api.post(f"/api/containers/{pid}/restart").status_code == 200  # same release
    hit(3)
    assert requests_metric(api, pid, 8) == 8
    resp = api.patch(f"/api/projects/{pid}/env", json={"env": {"GREETING": "!"}})
    assert resp.status_code == 200, resp.text  # a new release: counted from 0
    hit(2)
    assert requests_metric(api, pid, 2) == 2
