"""Recovery benchmark: how long apps are down after a crash, and after an engine restart.

    .venv/bin/python bench/recovery.py [--crashes 5] [--sites 5] [--engine-restart]

A real hostd subprocess (its own data dir and HOSTD_INSTANCE label) on the real engine,
warm base images (`hostd images bootstrap` first). Prints seconds:

* crash → serving: a small Python app whose `/crash` route exits with code 1; from the
  crash to its next 200 (the first crash of a streak waits 1 s, then the app starts);
* with `--engine-restart` (stops the machine's dockerd, the one scripts/ensure-docker
  started, and every container on it): `--sites` static sites, from the engine answering
  again to all of them answering 200 through hostd's router, and the whole outage.

Everything it creates is removed at the end. Bounded: each wait gives up after 120 s.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.deploy.conftest import make_repo
from tests.deploy.test_supervision import FILES as CRASHING_APP
from tests.harden.test_engine_restart import start_engine, stop_engine, through_router
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, logged_in, tls

LIMIT_S = 120.0


def until(check: Callable[[], bool], what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > LIMIT_S:
            raise SystemExit(f"gave up waiting until {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def deployed(api: httpx.Client, name: str, url: str, template: str) -> dict:
    resp = api.post("/api/projects", json={"name": name, "github_url": url,
                                           "template": template})
    resp.raise_for_status()
    pid = resp.json()["project"]["id"]
    until(lambda: api.get(f"/api/projects/{pid}").json()["project"]["status"] != "deploying",
          f"{name} is deployed")
    project = api.get(f"/api/projects/{pid}").json()["project"]
    if project["status"] != "running":
        raise SystemExit(f"{name} did not deploy: {project['status_reason']}")
    return project


def answers(server: HostdServer, project: dict) -> bool:
    reply = through_router(server, project)
    return reply is not None and reply.status_code == 200


def bench_crashes(server: HostdServer, api: httpx.Client, root: Path, crashes: int) -> None:
    project = deployed(api, "crashes", make_repo(root / "crashes", CRASHING_APP), "flask")
    host = project["url"].removeprefix("http://").split(":")[0]
    downtimes = []
    for _ in range(crashes):
        crashed = time.monotonic()
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.router_port}/crash", headers={"Host": host},
                      timeout=5, verify=tls())
        time.sleep(0.2)  # the crash itself, before anything answers again
        until(lambda: answers(server, project), "the app serves again")
        downtimes.append(time.monotonic() - crashed)
        # Ten minutes up would forgive the streak; a bench cannot wait that long, so each
        # crash here is the next of a streak: the waits are 1, 2, 4 … s.
    overhead = [d - 2 ** i for i, d in enumerate(downtimes)]
    print(f"crash → serving again, {crashes} crashes in a row (backoff 1, 2, 4 … s): "
          + ", ".join(f"{d:.1f}" for d in downtimes) + " s")
    print(f"  beyond the backoff (confirming the crash, starting the app): "
          f"median {statistics.median(overhead):.2f} s, max {max(overhead):.2f} s")


def bench_engine_restart(server: HostdServer, api: httpx.Client, root: Path, sites: int) -> None:
    projects = [deployed(api, f"site{i}", make_repo(root / f"site{i}", {
        "index.html": f"<h1>site {i}</h1>\n"}), "static") for i in range(sites)]
    stopped = time.monotonic()
    stop_engine()
    start_engine()
    answered = time.monotonic()
    took = until(lambda: all(answers(server, p) for p in projects), "every site serves again")
    print(f"engine restart, {sites} sites: engine down and up again in "
          f"{answered - stopped:.1f} s; every site serving through the router {took:.2f} s "
          "after it answered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crashes", type=int, default=5)
    parser.add_argument("--sites", type=int, default=5)
    parser.add_argument("--engine-restart", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostd-bench-recovery-") as tmp, \
            own_daemon(docker.from_env(), Path(tmp) / "data") as server, \
            logged_in(server) as api:
        bench_crashes(server, api, Path(tmp), min(args.crashes, 8))
        if args.engine_restart:
            bench_engine_restart(server, api, Path(tmp), min(args.sites, 30))

if __name__ == "__main__":
    main()
