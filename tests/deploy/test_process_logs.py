"""A worker's log lines come through the project's runtime log on the real engine, marked
`worker.1` (issue 26), beside web's lines, and alone with `process=worker`; the replicas'
lines interleaved by the engine's time of each."""

from __future__ import annotations

import json

import docker
import httpx

from hostd.naming import PROCESS_LABEL, PROJECT_LABEL
from tests.deploy.conftest import wait_status
from tests.deploy.test_processes import until
from tests.deploy.test_supervision import APP

WORKER = 'import time\nprint("worker <b>up</b>", flush=True)\ntime.sleep(3600)\n'
FILES = {
    "app.py": APP, "worker.py": WORKER,
    "Procfile": "web: python3 -u /app/app.py\nworker: python3 -u /app/worker.py\n",
    "app.json": json.dumps({"formation": {"worker": {"quantity": 1}}}),
    "Dockerfile": 'FROM hostd/python:3.13\nCOPY app.py worker.py /app/\n'
                  'CMD ["python3", "-u", "/app/app.py"]\n',
}


def marked(api: httpx.Client, pid: str, **params: str) -> list[tuple[str, str]]:
    resp = api.get(f"/api/projects/{pid}/logs", params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return list(zip(body["processes"], body["lines"], strict=True))


def test_a_workers_lines_come_marked_worker_1(api, engine, repo):
    resp = api.post("/api/projects", json={"name": "plogs", "github_url": repo(FILES),
                                           "template": "flask"})
    assert resp.status_code == 201, resp.text
    pid = resp.json()["project"]["id"]
    assert wait_status(api, pid, {"running", "error"})["status"] == "running"
    line = ("worker.1", "worker <b>up</b>")
    until(lambda: line in marked(api, pid))
    only = marked(api, pid, process="worker")
    assert line in only and {mark for mark, _ in only} == {"worker.1"}
    assert all(mark == "web.1" for mark, _ in marked(api, pid, process="web"))
    # Lines written into each container's log in turn (as its main process's output)
    # come back in that order, not one replica's after the other's.
    for mark, process in [("mark 1", "worker"), ("mark 2", "web"), ("mark 3", "worker")]:
        say(engine, pid, process, mark)
        until(lambda mark=mark: any(line == mark for _, line in marked(api, pid)))
    marks = [pair for pair in marked(api, pid) if pair[1].startswith("mark ")]
    assert marks == [("worker.1", "mark 1"), ("web.1", "mark 2"), ("worker.1", "mark 3")]


def say(engine: docker.DockerClient, pid: str, process: str, line: str) -> None:
    """`line` written to the log of the project's `process` replica (its PID 1's stdout)."""
    (container,) = engine.containers.list(filters={"label": [
        f"{PROJECT_LABEL}={pid}", f"{PROCESS_LABEL}={process}"]})
    code, out = container.exec_run(["python3", "-c", "import sys; open('/proc/1/fd/1', 'w')"
                                    ".write(sys.argv[1] + '\\n')", line])
    assert code == 0, out
