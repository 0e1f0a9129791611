"""`bench/replicas.py --hostd`: the same CPU-bound app as a real hostd project, 1 vs N web
replicas through the daemon's own router (issue 26).

A real hostd subprocess (its router workers as `--workers` says) on the real engine (warm
base images) deploys the app (hostd/python:3.13, each replica limited to one CPU by
HOSTD_CONTAINER_CPUS, hostd's default), then the phases take turns as in the other modes:
`PATCH /api/projects/:id/formation` `{web: 1}` or `{web: N}` (answered once the replicas
serve, or once the extra ones are retired), a second of warm-up, then `--concurrency`
keep-alive clients for `--seconds`. Prints req/s, failures and the requests each replica
answered per phase, then the medians side by side and their ratio. Everything the daemon
made is removed at the end (tests/plugins/engine.py own_daemon).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import docker
import httpx
from replicas import APP, load  # bench/replicas.py: run as `python bench/replicas.py`

from tests.deploy.conftest import make_repo
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, logged_in

DEPLOY_TIMEOUT_S = 240.0


def app_files(work: int) -> dict[str, str]:
    # APP's arguments: port, PBKDF2 rounds, its name (the container's), bind, life (s).
    command = f"exec python3 /app/app.py $PORT {work} $HOSTNAME 0.0.0.0 3600"
    return {"app.py": APP,
            "Dockerfile": "FROM hostd/python:3.13\nCOPY app.py /app/app.py\n"
                          f'CMD ["sh", "-c", "{command}"]\n'}


def deploy(api: httpx.Client, root: Path, work: int) -> dict:
    url = make_repo(root, app_files(work))
    resp = api.post("/api/projects", json={"name": "cpu", "github_url": url,
                                           "template": "flask"})
    resp.raise_for_status()
    pid = resp.json()["project"]["id"]
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while time.monotonic() < deadline:
        project = api.get(f"/api/projects/{pid}").json()["project"]
        if project["status"] in ("running", "error") and not project["deploying"]:
            if project["status"] != "running":
                raise SystemExit(f"the bench app did not deploy: {project['status_reason']}")
            return dict(project)
        time.sleep(0.5)
    raise SystemExit("the bench app's deploy never ended")


def phases(args: argparse.Namespace, server: HostdServer, api: httpx.Client,
           project: dict) -> dict[int, list[float]]:
    host = project["url"].removeprefix("http://").split(":")[0]
    rates: dict[int, list[float]] = {1: [], args.replicas: []}
    for round_ in range(args.rounds):
        for web in (1, args.replicas) if round_ % 2 == 0 else (args.replicas, 1):
            api.patch(f"/api/projects/{project['id']}/formation",
                      json={"web": web}).raise_for_status()
            asyncio.run(load(server.router_port, args.concurrency, 1.0, host))  # warm-up
            rate, failed, answered = asyncio.run(
                load(server.router_port, args.concurrency, args.seconds, host))
            shares = ", ".join(f"{name[:6]}={n}" for name, n in sorted(answered.items()))
            print(f"{round_ + 1:>5} {web:>8} {rate:>9.1f} {failed:>6}   {shares}", flush=True)
            rates[web].append(rate)
    return rates


def run_hostd(args: argparse.Namespace) -> None:
    print(f"hostd: {args.replicas} web replicas (1 CPU each), {args.workers} router "
          f"worker(s), {args.concurrency} clients, {args.rounds} rounds of "
          f"{args.seconds:g} s per phase")
    with tempfile.TemporaryDirectory(prefix="hostd-bench-replicas-") as tmp, \
            own_daemon(docker.from_env(), Path(tmp) / "data",
                       HOSTD_ROUTER_WORKERS=str(args.workers)) as server, \
            logged_in(server, timeout=120) as api:
        project = deploy(api, Path(tmp) / "repo", args.work)
        print(f"{'round':>5} {'web':>8} {'req/s':>9} {'failed':>6}   answered by")
        rates = phases(args, server, api, project)
    one, many = statistics.median(rates[1]), statistics.median(rates[args.replicas])
    print(f"median req/s: web=1 {one:.1f} | web={args.replicas} {many:.1f}; "
          f"ratio {many / one:.2f}x")
