"""Web replicas behind the router on the real engine, under traffic (issue 26).

A Dokku-style app (`web:` and `worker:` lines) answers with its release's VERSION and its
container's HOSTNAME, so each answer says which replica and which release served it. Paced
GETs go through the real router the whole time (`Traffic`, bounded in count and time):

- web scales 1 → 3 → 1: not one request fails, and at 3 every replica takes its share
  (in `make test`, about 10 s);
- a redeploy of a one-line change with 3 web replicas and a worker, at 200 req/s: not one
  request fails, once a new answer has come no old one does, and every replica (the
  worker too) ends on the new release (`scenario`);
- web.2, then web.1, killed from outside (`docker kill`): only requests sent before the
  kill may fail (those in flight on it), and the supervisor brings each back to serve
  again (`scenario`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx
import pytest

from tests.deploy.conftest import make_repo, wait_status
from tests.deploy.test_processes import processes, replicas_of, until
from tests.deploy.test_zero_downtime import commit, deployed
from tests.support import HostdServer, tls

APP = '''\
import http.server, os

BODY = (open("/app/VERSION").read().strip() + " " + os.environ["HOSTNAME"]).encode()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the router pools its connections

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
'''
TITLE = re.compile(r"<h1>(.*?)</h1>")
WORKER = "import time\nprint('worker up', flush=True)\nwhile True:\n    time.sleep(60)\n"


def app_files(web: int, worker: int) -> dict[str, str]:
    formation = {"web": {"quantity": web}, "worker": {"quantity": worker}}
    return {
        "app.py": APP, "worker.py": WORKER, "VERSION": "v1\n",
        "Procfile": "web: python3 -u /app/app.py\nworker: python3 -u /app/worker.py\n",
        "app.json": json.dumps({"formation": formation}),
        "Dockerfile": 'FROM hostd/python:3.13\nCOPY app.py worker.py VERSION /app/\n'
                      'CMD ["python3", "-u", "/app/app.py"]\n',
    }


@dataclass
class Traffic:
    """Paced GETs through the router: request i is due at start + i / rate, sent by
    whichever of `threads` clients is free. At most `seconds` and `rate * seconds`."""

    url: str
    host: str
    rate: float
    seconds: float = 120.0
    threads: int = 8
    # (sent at, done at, status, body) per request, on time.monotonic()
    results: list[tuple[float, float, int, str]] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @contextmanager
    def running(self) -> Iterator[Traffic]:
        self.start = time.monotonic()
        workers = [threading.Thread(target=self._client, daemon=True)
                   for _ in range(self.threads)]
        for thread in workers:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in workers:
                thread.join(timeout=30)

    def _due(self) -> float | None:
        with self._lock:
            index, self._next = self._next, self._next + 1
        due = self.start + index / self.rate
        return None if self._stop.is_set() or due - self.start > self.seconds else due

    def _client(self) -> None:
        with httpx.Client(timeout=10, verify=tls(), headers={"Host": self.host}) as client:
            while (due := self._due()) is not None:
                self._stop.wait(max(0.0, due - time.monotonic()))
                sent = time.monotonic()
                try:
                    reply = client.get(self.url)
                    status, body = reply.status_code, reply.text
                except httpx.HTTPError as exc:
                    status, body = 0, type(exc).__name__
                with self._lock:
                    self.results.append((sent, time.monotonic(), status, body))

    def failures(self) -> list[tuple[float, float, int, str]]:
        """The failed requests, with a router page's title for a body."""
        with self._lock:
            failed = [r for r in self.results if r[2] != 200]
        return [(*r[:3], title.group(1) if (title := TITLE.search(r[3])) else r[3][:60])
                for r in failed]

    def served(self, since: float, until: float = float("inf")) -> list[str]:
        """The bodies of the requests sent in [since, until) that succeeded."""
        with self._lock:
            return [r[3] for r in self.results if since <= r[0] < until and r[2] == 200]


def traffic(server: HostdServer, project: dict, rate: float) -> Traffic:
    host = project["url"].removeprefix("http://").split(":")[0]
    return Traffic(f"http://127.0.0.1:{server.router_port}/", host, rate)


def launched(api: httpx.Client, root: Path, name: str, web: int, worker: int) -> dict:
    url = make_repo(root, app_files(web, worker))
    resp = api.post("/api/projects", json={"name": name, "github_url": url,
                                           "template": "flask"})
    assert resp.status_code == 201, resp.text
    project = wait_status(api, resp.json()["project"]["id"], {"running", "error"})
    assert project["status"] == "running", project
    return project


def hostnames(engine: docker.DockerClient, project_id: str) -> dict[str, str]:
    """HOSTNAME → container id of the project's running web replicas."""
    return {c.attrs["Config"]["Hostname"]: c.id for c in replicas_of(engine, project_id, "web")}


def test_web_scales_1_3_1_under_traffic_dropping_nothing_and_spreading(
        api, deploy_hostd, engine, tmp_path):
    project = launched(api, tmp_path / "repo", "spread", web=1, worker=0)
    pid = project["id"]
    with traffic(deploy_hostd, project, rate=100).running() as load:
        time.sleep(1.0)
        resp = api.patch(f"/api/projects/{pid}/formation", json={"web": 3})
        assert resp.status_code == 200, resp.text
        at_three = time.monotonic()  # the answer comes once all three serve
        until(lambda: len(load.served(at_three)) >= 300, timeout=60)
        three = hostnames(engine, pid)
        left_three = time.monotonic()
        resp = api.patch(f"/api/projects/{pid}/formation", json={"web": 1})
        assert resp.status_code == 200, resp.text
        until(lambda: len(replicas_of(engine, pid, "web")) == 1)
        time.sleep(0.5)
    assert load.failures() == [], load.failures()[:5]
    assert len(three) == 3
    share = Counter(body.split()[1] for body in load.served(at_three, left_three))
    assert set(share) == set(three), share
    total = sum(share.values())
    assert all(n >= total / 10 for n in share.values()), share  # each takes a share
    assert set(processes(api, pid)) == {"web.1"}


@pytest.mark.scenario
def test_a_redeploy_with_3_web_and_a_worker_at_200_rps_drops_nothing(
        api, deploy_hostd, engine, tmp_path):
    root = tmp_path / "repo"
    project = launched(api, root, "redeploy3", web=3, worker=1)
    pid = project["id"]
    until(lambda: len(replicas_of(engine, pid, "web")) == 3
          and len(replicas_of(engine, pid, "worker")) == 1)
    commit(root, {"VERSION": "v2\n"})
    with traffic(deploy_hostd, project, rate=200).running() as load:
        time.sleep(2.0)
        assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
        after = deployed(api, pid)
        until(lambda: len(replicas_of(engine, pid, "web")) == 3, timeout=60)  # drained
        time.sleep(1.0)
    assert after["status"] == "running" and after["release"] == project["release"] + 1, after
    assert load.failures() == [], load.failures()[:5]
    # Every answer before the switch is v1's, every one after it v2's: a request sent once
    # a v2 answer has come never gets v1.
    with load._lock:
        results = sorted(load.results)
    first_new = min(done for _, done, _, body in results if body.startswith("v2"))
    late_old = [r for r in results if r[0] > first_new and r[3].startswith("v1")]
    assert late_old == [], late_old[:5]
    assert len(results) > 1000
    shown = processes(api, pid)
    assert set(shown) == {"web.1", "web.2", "web.3", "worker.1"}, shown
    assert {p["release"] for p in shown.values()} == {after["release"]}, shown
    assert all(p["state"] == "running" for p in shown.values()), shown
    new_bodies = set(load.served(time.monotonic() - 1.0))
    assert {body.split()[0] for body in new_bodies} == {"v2"}
    image = engine.containers.get(replicas_of(engine, pid, "worker")[0].id).image.id
    assert all(c.image.id == image for c in replicas_of(engine, pid, "web"))


def kill_and_watch(api: httpx.Client, engine: docker.DockerClient, load: Traffic,
                   pid: str, name: str) -> tuple[float, float]:
    """Kill replica `name` (web.N) from outside, and watch it serve again; when the kill
    was asked and when it had returned."""
    number = int(name.split(".")[1])
    web = replicas_of(engine, pid, "web")
    (victim,) = [c for c in web if int(c.labels.get("hostd.replica", "1")) == number]
    restarts = processes(api, pid)[name]["restarts"]
    asked = time.monotonic()
    victim.kill()
    killed = time.monotonic()
    until(lambda: (p := processes(api, pid)[name])["restarts"] == restarts + 1
          and p["serving"], timeout=60)
    back = time.monotonic()
    hostname = victim.attrs["Config"]["Hostname"]
    until(lambda: hostname in {b.split()[1] for b in load.served(back)}, timeout=30)
    return asked, killed


@pytest.mark.scenario
def test_a_killed_web_replica_loses_only_its_requests_and_comes_back(
        api, deploy_hostd, engine, tmp_path):
    project = launched(api, tmp_path / "repo", "killed", web=3, worker=0)
    pid = project["id"]
    until(lambda: len(replicas_of(engine, pid, "web")) == 3)
    with traffic(deploy_hostd, project, rate=100).running() as load:
        time.sleep(1.0)
        kills = [kill_and_watch(api, engine, load, pid, name) for name in ("web.2", "web.1")]
        time.sleep(0.5)
    # Only requests under way when a kill hit may fail: none sent after it returned, none
    # answered before it was asked.
    failed = load.failures()
    assert all(any(sent < killed and done > asked for asked, killed in kills)
               for sent, done, *_ in failed), (kills, failed[:8])
    assert len(failed) <= 2 * load.threads, failed[:5]
    shown = processes(api, pid)
    assert [shown[f"web.{n}"]["restarts"] for n in (1, 2, 3)] == [1, 1, 0], shown
    assert api.get(f"/api/projects/{pid}").json()["project"]["status"] == "running"
