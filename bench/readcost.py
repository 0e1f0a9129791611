"""Read cost beside the Express seed: the server's CPU per request of every authenticated
read route, and of an event-stream connect, for hostd and the seed in one run.

    .venv/bin/python bench/readcost.py --seed ../shared/peers/seed-express [--db postgres]

Both servers get the same data: 50 users with 5 projects each (hostd's are upload
projects, which need no clone or DNS; the seed stores whatever it is sent). Each read
route is then loaded at concurrency 32, cycling through every user's requests, by two
clients: a stdlib keep-alive client (asyncio, like the seed's own load scenario) and wrk.
The servers take turns in short bursts (`--rounds` of `--seconds` each, the order
alternating), so both see the same machine: the other work on it inflates CPU time, and
a burst each in turn shares that between them. CPU per request is the server process's
own utime+stime (/proc/PID/stat) over the requests it served in its bursts.

Without `--seed`, hostd alone is measured. The seed folder is copied to a temporary
folder first (it may be read-only), and started with its `run.sh PORT` on loopback.
Prints numbers; asserts none. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.api import cpu_seconds, postgres_database
from bench.httpload import Burst, Call, stdlib_burst, wrk_burst
from tests.support import HostdServer, free_port, tls

USERS, PROJECTS = 50, 5
PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway bench account
ROUTES: dict[str, Callable[[list[str]], str]] = {
    "GET /api/projects": lambda ids: "/api/projects",
    "GET /api/projects/:id": lambda ids: f"/api/projects/{ids[0]}",
    "GET /api/auth/me": lambda ids: "/api/auth/me",
    "GET /api/containers/:id/status": lambda ids: f"/api/containers/{ids[1]}/status",
}


@dataclass
class Server:
    name: str
    url: str
    pid: int
    people: list[tuple[str, list[str]]]  # (token, project ids)


def seed_process(folder: Path, work: Path) -> tuple[str, subprocess.Popen]:
    copy = work / "seed"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("node_modules", "dist"))
    port = free_port()
    log = (work / "seed.log").open("w")
    process = subprocess.Popen(["bash", str(copy / "run.sh"), str(port)], stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # npm ci and tsc the first time
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/auth/me", timeout=2)
            return url, process
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(f"the seed exited: see {work / 'seed.log'}") from None
            time.sleep(0.5)
    raise RuntimeError("the seed did not answer within 300 s")


def populate(url: str, uploads: bool) -> list[tuple[str, list[str]]]:
    people = []
    with httpx.Client(base_url=url, timeout=60, verify=tls()) as client:
        for n in range(USERS):
            resp = client.post("/api/auth/register", json={
                "email": f"reader{n}-{os.getpid()}@example.com", "password": PASSWORD,
                "name": f"Reader {n}"})
            resp.raise_for_status()
            token = resp.json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            ids = []
            for i in range(PROJECTS):
                body = ({"name": f"app-{i}", "template": "static", "source": "upload"}
                        if uploads else {"name": f"app-{i}", "template": "static",
                                         "github_url": "https://github.com/example/site"})
                made = client.post("/api/projects", headers=headers, json=body)
                made.raise_for_status()
                ids.append(made.json()["project"]["id"])
            people.append((token, ids))
    return people


def settle(database_url: str) -> None:
    """Vacuum and analyze the tables just filled, so PostgreSQL's autovacuum does not do
    it on the same cores during the first route's bursts (it did: that route read worse)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


async def measure(servers: list[Server], route: Callable[[list[str]], str], client: str,
                  rounds: int, seconds: float) -> dict[str, tuple[float, Burst]]:
    """{server: (CPU ms per request, all its bursts added up)}."""
    cpu = {s.name: 0.0 for s in servers}
    total = {s.name: Burst(0, 0, 0.0) for s in servers}
    for n in range(rounds + 1):  # round 0 warms up: every token verified and cached
        for server in servers if n % 2 else reversed(servers):
            calls: list[Call] = [(route(ids), token) for token, ids in server.people]
            before = cpu_seconds(server.pid)
            if client == "wrk":
                burst = await asyncio.to_thread(wrk_burst, server.url, calls, 32,
                                                seconds if n else 1)
            else:
                burst = await stdlib_burst(server.url, calls, 32, seconds if n else 1)
            if n:
                cpu[server.name] += cpu_seconds(server.pid) - before
                t = total[server.name]
                total[server.name] = Burst(t.ok + burst.ok, t.failed + burst.failed,
                                           t.seconds + burst.seconds)
    return {name: (cpu[name] * 1000 / max(b.ok + b.failed, 1), b) for name, b in total.items()}


async def sse_connects(server: Server, count: int, path: str = "/api/containers/events") -> float:
    """CPU ms per event-stream connect: open, read the first event, hang up (8 at a time).
    A connect is a new connection each time (the client hangs up): with `path` a plain
    read, the same on new connections, for comparison."""
    tokens = [token for token, _ in server.people]
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits,
                                 verify=tls()) as client:
        async def one(n: int) -> None:
            headers = {"Authorization": f"Bearer {tokens[n % len(tokens)]}",
                       "Accept": "text/event-stream"}
            async with client.stream("GET", path, headers=headers) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith(("data:", "{")):
                        break

        gate = asyncio.Semaphore(8)

        async def gated(n: int) -> None:
            async with gate:
                await one(n)

        await asyncio.gather(*(gated(n) for n in range(16)))  # warm-up
        before = cpu_seconds(server.pid)
        await asyncio.gather(*(gated(n) for n in range(count)))
        return (cpu_seconds(server.pid) - before) * 1000 / count


async def connect_costs(servers: list[Server], rounds: int, connects: int) -> None:
    """An event-stream connect beside a read made the same way (a new connection each),
    taking turns `rounds` times: the target is a connect as cheap as that read."""
    paths = {"SSE connect + first event": "/api/containers/events",
             "GET /api/auth/me, new connection": "/api/auth/me"}
    spent = {(s.name, path): 0.0 for s in servers for path in paths.values()}
    for n in range(rounds):
        for server in servers if n % 2 else reversed(servers):
            for path in paths.values() if n % 2 else reversed(paths.values()):
                spent[server.name, path] += await sse_connects(server, connects, path) / rounds
    for title, path in paths.items():
        line = f"{title:31} httpx  hostd {spent['hostd', path]:6.3f} ms"
        if "seed" in {s.name for s in servers}:
            line += (f" | seed {spent['seed', path]:6.3f} ms | hostd/seed "
                     f"{spent['hostd', path] / spent['seed', path]:4.2f}")
        print(line, flush=True)
    connect, read = (spent["hostd", path] for path in paths.values())
    print(f"hostd: an SSE connect costs {connect / read:4.2f} reads on a new connection "
          "(target ~1)", flush=True)


def print_row(title: str, client: str, result: dict[str, tuple[float, Burst]]) -> None:
    hostd_ms, burst = result["hostd"]
    line = (f"{title:31} {client:6} hostd {hostd_ms:6.3f} ms "
            f"({burst.ok / max(burst.seconds, 1e-9):6.0f}/s, {burst.failed} failed)")
    if "seed" in result:
        seed_ms, seed_burst = result["seed"]
        line += (f" | seed {seed_ms:6.3f} ms ({seed_burst.ok / max(seed_burst.seconds, 1e-9):6.0f}"
                 f"/s) | hostd/seed {hostd_ms / seed_ms:4.2f} (target <= 0.50)")
    print(line, flush=True)


async def run(args: argparse.Namespace, work: Path) -> None:
    database_url, drop = postgres_database() if args.db == "postgres" else (None, None)
    hostd = HostdServer(data_dir=work / "data", database_url=database_url, env_overrides={
        "BCRYPT_ROUNDS": "10", "HOSTD_ALLOW_LOCAL_REPOS": "false"})  # the seed's cost 10
    seed = None
    try:
        hostd.start()
        assert hostd.process is not None
        servers = [Server("hostd", hostd.url, hostd.process.pid, populate(hostd.url, True))]
        if args.seed:
            url, seed = seed_process(Path(args.seed), work)
            servers.insert(0, Server("seed", url, seed.pid, populate(url, False)))
        if database_url is not None:
            settle(database_url)
        print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, python "
              f"{sys.version.split()[0]}, hostd on {args.db}; {USERS} users x {PROJECTS} "
              f"projects; c=32; {args.rounds} rounds of {args.seconds:.0f} s per server",
              flush=True)
        clients = [c for c in args.clients.split(",") if c != "wrk" or shutil.which("wrk")]
        for title, route in ROUTES.items():
            if args.routes and not any(part in title for part in args.routes.split(",")):
                continue
            for client in clients:
                print_row(title, client, await measure(servers, route, client, args.rounds,
                                                       args.seconds))
        if args.connects:
            await connect_costs(servers, args.rounds, args.connects)
    finally:
        hostd.stop()
        if seed is not None:
            seed.terminate()
            seed.wait(timeout=10)
        if drop is not None:
            drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", help="the seed-express folder (run.sh PORT)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connects", type=int, default=400, help="0: none")
    parser.add_argument("--routes", default="",
                        help="only the routes whose title holds one of these (commas)")
    parser.add_argument("--clients", default="stdlib,wrk", help="stdlib, wrk or both")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hostd-readcost-"))
    try:
        asyncio.run(run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
