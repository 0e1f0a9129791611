"""A worker's log lines come through the project's runtime log on the real engine, marked
`worker.1` (issue 26), beside web's lines, and alone with `process=worker`."""

from __future__ import annotations

import json

import httpx

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
