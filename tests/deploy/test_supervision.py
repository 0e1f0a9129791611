"""Apps stay up on the real engine: a crash is restarted with backoff, a crash loop backs off
further each time, and the owner's stop ends the cycle (hostd.control.supervisor)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import docker
import httpx
import pytest

from tests.deploy.conftest import only_container, published_port, wait_status
from tests.support import tls

# A stdlib server on $PORT: /crash exits with code 1, and with EXIT_AFTER set it exits
# that many seconds after each start.
APP = '''\
import http.server, os, threading

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            os._exit(1)
        body = b"up\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

if os.environ.get("EXIT_AFTER"):
    threading.Timer(float(os.environ["EXIT_AFTER"]), os._exit, (1,)).start()
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
'''
FILES = {
    "app.py": APP,
    "Dockerfile": 'FROM hostd/python:3.13\nCOPY app.py /app/app.py\n'
                  'CMD ["python3", "-u", "/app/app.py"]\n',
}


def deploy(api: httpx.Client, repo: Callable[[dict[str, str]], str], name: str,
           env: dict[str, str] | None = None) -> dict:
    resp = api.post("/api/projects", json={"name": name, "github_url": repo(FILES),
                                           "template": "flask", "env": env or {}})
    assert resp.status_code == 201, resp.text
    project = wait_status(api, resp.json()["project"]["id"], {"running", "error"})
    assert project["status"] == "running", project
    assert project["restarts"] == 0 and project["last_exit"] is None
    assert project["desired_status"] == "running"
    return project


def watch(api: httpx.Client, project_id: str, until: Callable[[dict], bool],
          timeout: float = 30.0) -> list[dict]:
    """Every distinct (status, reason, restarts) the project shows, polled every 0.1 s,
    until `until` holds for one of them."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        project = api.get(f"/api/projects/{project_id}").json()["project"]
        key = (project["status"], project["status_reason"], project["restarts"])
        if not seen or key != (seen[-1]["status"], seen[-1]["status_reason"],
                               seen[-1]["restarts"]):
            seen.append(project)
        if until(project):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"timed out; the project went through {seen}")


def starts_of(engine: docker.DockerClient, project_id: str, since: float) -> list[float]:
    """When the engine started the project's containers, from its own event log."""
    events = engine.events(since=int(since), until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "start",
                                    "label": f"hostd.project={project_id}"})
    return [event["timeNano"] / 1e9 for event in events]


def test_a_crashed_app_serves_again_with_its_restart_counted(api, repo, engine):
    project = deploy(api, repo, "crashy")
    crashed = only_container(engine, project["id"])
    port = published_port(engine, project["id"])
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/crash", timeout=5, verify=tls())
    seen = watch(api, project["id"], lambda p: p["status"] == "running" and p["restarts"] == 1)
    waiting = [p for p in seen if p["status"] == "error"]
    assert waiting and waiting[0]["status_reason"] == \
        "crashed once (exit code 1); next start in 1 s", seen
    after = seen[-1]
    assert after["last_exit"]["code"] == 1 and after["last_exit"]["signal"] is None
    assert not after["last_exit"]["oom_killed"]
    assert datetime.fromisoformat(after["last_exit"]["at"].replace("Z", "+00:00"))
    # The same container, started again (its logs stay one story), and serving.
    assert only_container(engine, project["id"]).id == crashed.id
    answer = httpx.get(f"http://127.0.0.1:{published_port(engine, project['id'])}/",
                       timeout=5, verify=tls())
    assert answer.text == "up\n"


def test_an_app_killed_from_outside_is_started_again(api, repo, engine):
    project = deploy(api, repo, "victim2")
    (container,) = engine.containers.list(filters={"label": f"hostd.project={project['id']}"})
    container.kill()
    seen = watch(api, project["id"], lambda p: p["status"] == "running" and p["restarts"] == 1)
    assert seen[-1]["last_exit"]["signal"] == "SIGKILL", seen
    assert seen[-1]["last_exit"]["code"] == 137
