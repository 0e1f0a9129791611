"""Slow starts benchmark: one user's 40 concurrent `start`s of an app that takes seconds to
answer, and another user's reads meanwhile. Prints numbers.

    .venv/bin/python bench/slow_starts.py [--projects 40] [--delay 8]

A real hostd subprocess on the real engine. Alice has `--projects` stopped projects whose
app sleeps `--delay` s before it listens; all of them are started at once (each start
answers once its app serves). Meanwhile Bob reads `GET /api/projects` and
`GET /api/projects/:id` in a loop (one request at a time, at most 2,000 each); printed: Bob's
p50/p99/max per route while the starts run, and how long the starts took. Target: Bob's
p99 under 100 ms. Bounded: at most 100 projects, every wait ends (a start at 300 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.deploy.conftest import make_repo
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, auth, register, tls

# Listens only after $DELAY seconds: the start waits for it.
SLOW_APP = {"Dockerfile": "FROM hostd/busybox:1\nUSER 65534:65534\n"
            'CMD ["sh", "-c", "sleep ${DELAY:-0}; mkdir -p /tmp/w && echo ok > /tmp/w/index.html'
            ' && exec httpd -f -p $PORT -h /tmp/w"]\n'}


def settle(api: httpx.Client, ids: list[str], wanted: str, limit_s: float = 600) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        listed = {p["id"]: p for p in api.get("/api/projects").json()["projects"]}
        if all(listed[i]["status"] == wanted and not listed[i].get("deploying")
               for i in ids):
            return
        time.sleep(0.5)
    raise SystemExit(f"the projects never all reached {wanted}")


def prepare(api: httpx.Client, url: str, count: int, delay: int) -> list[str]:
    ids = []
    for n in range(count):
        reply = api.post("/api/projects", json={"name": f"slow{n}", "github_url": url,
                                                "template": "static"})
        if reply.status_code != 201:
            raise SystemExit(f"create slow{n}: {reply.status_code} {reply.text}")
        ids.append(reply.json()["project"]["id"])
    settle(api, ids, "running")
    for pid in ids:
        api.post(f"/api/containers/{pid}/stop").raise_for_status()
        api.patch(f"/api/projects/{pid}/env", json={"env": {"DELAY": str(delay)}}
                  ).raise_for_status()
    return ids


async def start_all(server: HostdServer, token: str, ids: list[str]) -> list[int]:
    async with httpx.AsyncClient(base_url=server.url, headers=auth(token), timeout=300,
                                 verify=tls()) as client:
        replies = await asyncio.gather(*(client.post(f"/api/containers/{pid}/start")
                                         for pid in ids))
    return [reply.status_code for reply in replies]


async def read_meanwhile(server: HostdServer, token: str, project_id: str,
                         done: asyncio.Event) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {"GET /api/projects": [], "GET /api/projects/:id": []}
    paths = {"GET /api/projects": "/api/projects",
             "GET /api/projects/:id": f"/api/projects/{project_id}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth(token), timeout=60,
                                 verify=tls()) as client:
        while not done.is_set() and len(seen["GET /api/projects"]) < 2000:
            for route, path in paths.items():
                started = time.monotonic()
                (await client.get(path)).raise_for_status()
                seen[route].append(time.monotonic() - started)
            await asyncio.sleep(0.02)
    return seen


async def measure(server: HostdServer, alice: str, bob: str, ids: list[str],
                  bob_project: str) -> None:
    done = asyncio.Event()
    reads = asyncio.create_task(read_meanwhile(server, bob, bob_project, done))
    await asyncio.sleep(1.0)
    started = time.monotonic()
    codes = await start_all(server, alice, ids)
    took = time.monotonic() - started
    done.set()
    seen = await reads
    print(f"{len(ids)} starts: {codes.count(200)} answered 200 "
          f"({sorted(set(codes))}) in {took:.1f} s")
    for route, latencies in seen.items():
        ms = sorted(x * 1000 for x in latencies)
        p99 = statistics.quantiles(ms, n=100)[98] if len(ms) > 1 else ms[0]
        print(f"  Bob's {route:<24} n={len(ms):>5}  p50 {statistics.median(ms):6.1f} ms  "
              f"p99 {p99:6.1f} ms  max {ms[-1]:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=40)
    parser.add_argument("--delay", type=int, default=8)
    args = parser.parse_args()
    count = max(1, min(args.projects, 100))
    with tempfile.TemporaryDirectory(prefix="hostd-bench-slow-") as tmp, \
            own_daemon(docker.from_env(), Path(tmp) / "data", HOSTD_CONTAINER_MEMORY_MB="32",
                       HOSTD_MAX_QUEUED_DEPLOYS="200",
                       HOSTD_MAX_PROJECTS_PER_USER="200",
                       HOSTD_MAX_MEMORY_MB_PER_USER="100000") as server, \
            httpx.Client(base_url=server.url, timeout=120, verify=tls()) as api:
        alice, _ = register(api)
        bob, _ = register(api)
        url = make_repo(Path(tmp) / "slow", SLOW_APP)
        api.headers.update(auth(alice))
        ids = prepare(api, url, count, args.delay)
        api.headers.update(auth(bob))
        bob_project = api.post("/api/projects", json={"name": "bobs", "github_url": url,
                                                      "template": "static"}).json()["project"]
        settle(api, [bob_project["id"]], "running")
        asyncio.run(measure(server, alice, bob, ids, bob_project["id"]))


if __name__ == "__main__":
    main()
