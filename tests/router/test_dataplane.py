"""The router, the collector and the event stream inside a real daemon, on real containers.

Every request goes to the router on 127.0.0.1 with the project's Host header, as a
browser resolving `*.localhost` would send it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.deploy.conftest import make_repo, wait_status
from tests.support import HostdServer, tls

pytestmark = pytest.mark.docker

SITE = {"public/index.html": "<h1>hello from the router fixture</h1>\n"}
# A stdlib-only app: / answers, /burn spins the CPU for 200 ms, and an Upgrade on /ws is
# a (minimal, text-only) WebSocket echo that upper-cases what it gets.
APP = r'''
import base64, hashlib, os, struct, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        body = b"hello from the app"
        if self.path.startswith("/burn"):
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                pass
            body = b"burnt"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def frame(self, opcode, payload):
        head = bytes([0x80 | opcode])
        n = len(payload)
        head += bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n)
        self.wfile.write(head + payload)
        self.wfile.flush()

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"] + GUID
        accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                break
            opcode, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = struct.unpack(">H", self.rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            if opcode == 8:
                self.frame(8, data[:2])
                break
            if opcode == 1:
                self.frame(1, data.decode().upper().encode())
        self.close_connection = True

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
'''
APP_REPO = {
    "app.py": APP,
    "Dockerfile": 'FROM hostd/python:3.13\nCOPY app.py /app.py\nUSER 65534:65534\n'
                  'CMD ["python3", "/app.py"]\n',
}
MEMORY_LIMIT_MB = 512  # HOSTD_CONTAINER_MEMORY_MB's default


def deploy(client: httpx.Client, tmp: Path, name: str, files: dict[str, str],
           template: str) -> dict:
    url = make_repo(tmp / f"repo-{name}", files)
    resp = client.post("/api/projects", json={"name": name, "github_url": url,
                                              "template": template})
    assert resp.status_code == 201, resp.text
    project = wait_status(client, resp.json()["project"]["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    return project


class Site:
    """A project seen through the router: its Host header on the router's loopback port."""

    def __init__(self, server: HostdServer, project: dict) -> None:
        self.project = project
        self.host = urlsplit(project["url"]).netloc
        self.base = f"http://127.0.0.1:{server.router_port}"

    def get(self, path: str = "/", **kwargs) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Host": self.host}, timeout=30, **kwargs,
                         verify=tls())


def metrics(client: httpx.Client, project_id: str) -> dict:
    return client.get(f"/api/projects/{project_id}").json()["project"]["metrics"]


def wait_metrics(client: httpx.Client, project_id: str, check, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        seen = metrics(client, project_id)
        if check(seen):
            return seen
        assert time.monotonic() < deadline, f"metrics never matched: {seen}"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def site(router_hostd, alice, tmp_path_factory) -> Site:
    return Site(router_hostd, deploy(alice, tmp_path_factory.mktemp("site"), "shop", SITE,
                                     "static"))


@pytest.fixture(scope="module")
def app(router_hostd, alice, tmp_path_factory) -> Site:
    return Site(router_hostd, deploy(alice, tmp_path_factory.mktemp("app"), "busy", APP_REPO,
                                     "flask"))


@pytest.fixture(scope="module")
def bobs(router_hostd, bob, tmp_path_factory) -> Site:
    return Site(router_hostd, deploy(bob, tmp_path_factory.mktemp("bob"), "blog", SITE,
                                     "static"))


def test_the_site_answers_at_its_url(site):
    resp = site.get()
    assert resp.status_code == 200
    assert "hello from the router fixture" in resp.text
    port = site.base.rsplit(":", 1)[1]
    assert site.host.startswith("shop.") and site.host.endswith(f".localhost:{port}")


def test_exactly_n_requests_read_n(router_hostd, alice, tmp_path):
    # A project of its own: nothing else sends it requests (the deploy's health check
    # calls the container directly, not through the router).
    counted = Site(router_hostd, deploy(alice, tmp_path, "counted", SITE, "static"))
    sent = 25
    with httpx.Client(headers={"Host": counted.host}, timeout=30, verify=tls()) as http:
        for _ in range(sent):
            assert http.get(counted.base + "/").status_code == 200
    seen = wait_metrics(alice, counted.project["id"], lambda m: m["requests"] >= sent,
                        timeout=10)
    assert seen["requests"] == sent
    time.sleep(2.5)  # two more samples: nothing was counted twice
    assert metrics(alice, counted.project["id"])["requests"] == sent


def test_memory_is_measured_within_the_limit(alice, site):
    seen = wait_metrics(alice, site.project["id"], lambda m: m["memory"] > 0, timeout=10)
    assert 0 < seen["memory"] <= MEMORY_LIMIT_MB


def test_cpu_rises_under_load_and_falls_when_idle(alice, app):
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(headers={"Host": app.host}, timeout=30, verify=tls()) as http:
            while not stop.is_set():
                http.get(app.base + "/burn")

    workers = [threading.Thread(target=load, daemon=True) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        busy = wait_metrics(alice, app.project["id"], lambda m: m["cpu"] > 20, timeout=30)
    finally:
        stop.set()
        for worker in workers:
            worker.join(35)
    assert busy["requests"] > 0
    idle = wait_metrics(alice, app.project["id"], lambda m: m["cpu"] < 5, timeout=20)
    assert idle["cpu"] < 5


def test_websocket_through_the_router_to_a_real_container(app):
    # The URI names the project, so the one Host header is its (two would be a 400).
    sock = socket.create_connection(("127.0.0.1", int(app.base.rsplit(":", 1)[1])), timeout=10)
    with ws_connect(f"ws://{app.host}/ws", sock=sock, proxy=None, open_timeout=10) as ws:
        ws.send("hello container")
        assert ws.recv(timeout=10) == "HELLO CONTAINER"


def test_unknown_host_is_404(site):
    resp = httpx.get(site.base + "/", headers={"Host": "nothing.nobody.localhost"}, verify=tls())
    assert resp.status_code == 404 and "Not found" in resp.text


def read_frames(lines: Iterator[str], until, timeout: float) -> list[dict]:
    frames, frame = [], {}
    deadline = time.monotonic() + timeout
    for line in lines:
        if line == "" and frame:
            frame["data"] = json.loads(frame["data"])
            frames.append(frame)
            frame = {}
            if until(frames):
                return frames
        elif line and not line.startswith(":"):
            key, _, value = line.partition(": ")
            frame[key] = value
        assert time.monotonic() < deadline, f"gave up waiting; got {frames}"
    return frames


def test_streams_carry_only_their_own_projects_metrics(router_hostd, alice, bob, site, app,
                                                       bobs):
    mine = {site.project["id"], app.project["id"]}
    for client, own in ((alice, mine), (bob, {bobs.project["id"]})):
        with client.stream("GET", "/api/containers/events",
                           timeout=httpx.Timeout(30, read=30)) as resp:
            frames = read_frames(
                resp.iter_lines(),
                lambda fs, own=own: own <= {f["data"].get("projectId") for f in fs
                                             if f["event"] == "metrics_updated"},
                timeout=20)
        assert frames[0]["event"] == "connected"
        assert frames[0]["data"]["userId"] == client.user["id"]
        updates = [f for f in frames if f["event"] == "metrics_updated"]
        theirs = {p["id"] for p in client.get("/api/projects").json()["projects"]}
        assert {f["data"]["projectId"] for f in updates} <= theirs, "another user's project"
        # The contract's three, and (additive) the per-type breakdown once measured.
        assert all(set(f["data"]["metrics"]) - {"processes"} == {"cpu", "memory", "requests"}
                   for f in updates)
        assert all("id" in f for f in frames)


def test_stop_and_start_arrive_as_status_changes_and_the_url_follows(alice, site):
    project_id = site.project["id"]
    assert site.get().status_code == 200
    time.sleep(1.5)  # past a metrics interval (1 s here): the sample holds every request
    counted = wait_metrics(alice, project_id, lambda m: m["requests"] >= 1, timeout=10)
    with alice.stream("GET", "/api/containers/events",
                      timeout=httpx.Timeout(30, read=60)) as resp:
        lines = resp.iter_lines()
        read_frames(lines, lambda fs: fs[-1]["event"] == "connected", timeout=10)
        assert alice.post(f"/api/containers/{project_id}/stop").status_code == 200
        stopped = site.get()
        assert stopped.status_code == 503 and "shop is stopped" in stopped.text
        assert alice.post(f"/api/containers/{project_id}/start").status_code == 200
        frames = read_frames(lines, lambda fs: any(
            f["event"] == "status_changed" and f["data"]["status"] == "running" for f in fs),
            timeout=60)
    statuses = [f["data"]["status"] for f in frames if f["event"] == "status_changed"
                and f["data"]["projectId"] == project_id]
    assert statuses[0] == "stopped" and statuses[-1] == "running"
    # A new start has a new host port: the router follows it, and within one release
    # the count goes on (README: `requests`).
    assert site.get().status_code == 200
    assert wait_metrics(alice, project_id,
                        lambda m: m["requests"] == counted["requests"] + 1, timeout=10)
