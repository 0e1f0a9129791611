"""Process types on the real engine (issue 26): a Dokku-style app with `web:` and `worker:`
lines — the worker runs (its own command, no $PORT, no published port, labelled with its
type) and is started again after it crashes; web scales 1 → 3 → 1, each replica answering
on its own loopback port; web scaled to 0 answers 503 from the router, the worker running on,
and back to 1 serves again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import docker
import httpx

from tests.deploy.conftest import answers, wait_status
from tests.deploy.test_supervision import APP
from tests.support import tls

# The worker crashes once (exit 3) a second after its first start, then stays up: its
# container keeps /tmp across hostd's restart of it.
WORKER = '''\
import os, sys, time
print("worker up", flush=True)
if not os.path.exists("/tmp/crashed"):
    open("/tmp/crashed", "w").close()
    time.sleep(1)
    sys.exit(3)
while True:
    time.sleep(60)
'''
FILES = {
    "app.py": APP, "worker.py": WORKER,
    "Procfile": "web: python3 -u /app/app.py\nworker: python3 -u /app/worker.py  # queue\n",
    "app.json": json.dumps({"formation": {"worker": {"quantity": 1}}}),
    "Dockerfile": 'FROM hostd/python:3.13\nCOPY app.py worker.py /app/\n'
                  'CMD ["python3", "-u", "/app/app.py"]\n',
}


def replicas_of(engine: docker.DockerClient, project_id: str, process: str) -> list:
    labels = [f"hostd.project={project_id}", f"hostd.process={process}"]
    for _ in range(10):
        try:
            return engine.containers.list(filters={"label": labels})
        except docker.errors.NotFound:  # one was removed between the list and its inspect
            time.sleep(0.1)
    raise AssertionError("the engine kept removing containers while listing them")


def until(check: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.2)
    return value


def processes(api: httpx.Client, project_id: str) -> dict[str, dict]:
    resp = api.get(f"/api/projects/{project_id}/processes")
    assert resp.status_code == 200, resp.text
    return {p["name"]: p for p in resp.json()["processes"]}


def test_a_worker_runs_and_is_restarted_and_web_scales(api, engine, repo):
    resp = api.post("/api/projects", json={"name": "procs", "github_url": repo(FILES),
                                           "template": "flask"})
    assert resp.status_code == 201, resp.text
    pid = resp.json()["project"]["id"]
    assert wait_status(api, pid, {"running", "error"})["status"] == "running"
    (worker,) = until(lambda: replicas_of(engine, pid, "worker"))
    assert worker.attrs["Config"]["Cmd"] == ["sh", "-c", "python3 -u /app/worker.py"]
    assert not worker.attrs["NetworkSettings"]["Ports"]
    assert not any(v.startswith("PORT=") for v in worker.attrs["Config"]["Env"])
    # Its crash (exit 3) is restarted with the supervisor's backoff, counted on it.
    shown = until(lambda: (p := processes(api, pid))["worker.1"]["restarts"] == 1
                  and p["worker.1"]["state"] == "running" and p)
    assert shown["worker.1"]["last_exit_code"] == 3
    assert api.get(f"/api/projects/{pid}").json()["project"]["restarts"] == 1

    resp = api.patch(f"/api/projects/{pid}/formation", json={"web": 3})
    assert resp.status_code == 200, resp.text
    webs = replicas_of(engine, pid, "web")
    assert len(webs) == 3
    for container in webs:
        port = int(container.ports["8000/tcp"][0]["HostPort"])
        reply = answers(port)
        assert reply is not None and reply.status_code == 200
    resp = api.patch(f"/api/projects/{pid}/formation", json={"web": 1})
    assert resp.status_code == 200, resp.text
    until(lambda: len(replicas_of(engine, pid, "web")) == 1)
    assert set(processes(api, pid)) == {"web.1", "worker.1"}


def test_web_scaled_to_zero_answers_503_and_back_to_one_serves(api, engine, deploy_hostd,
                                                              repo):
    files = {**FILES, "Procfile": "web: python3 -u /app/app.py\nworker: sleep 600\n"}
    resp = api.post("/api/projects", json={"name": "nap", "github_url": repo(files),
                                           "template": "flask"})
    assert resp.status_code == 201, resp.text
    project = resp.json()["project"]
    pid = project["id"]
    assert wait_status(api, pid, {"running", "error"})["status"] == "running"
    host = project["url"].removeprefix("http://").split(":")[0]
    router = f"http://127.0.0.1:{deploy_hostd.router_port}/"

    def routed() -> httpx.Response:
        return httpx.get(router, headers={"Host": host}, timeout=10, verify=tls())

    assert routed().status_code == 200
    resp = api.patch(f"/api/projects/{pid}/formation", json={"web": 0})
    assert resp.status_code == 200, resp.text
    reply = routed()  # the route went before the answer; the container drains after
    assert reply.status_code == 503 and "no web process running" in reply.text
    until(lambda: not replicas_of(engine, pid, "web"))
    assert len(replicas_of(engine, pid, "worker")) == 1
    shown = api.get(f"/api/projects/{pid}").json()["project"]
    assert shown["status"] == "running" and "web=1" in shown["status_reason"]
    resp = api.patch(f"/api/projects/{pid}/formation", json={"web": 1})
    assert resp.status_code == 200, resp.text
    assert routed().status_code == 200
