"""API benchmark: a real hostd subprocess, loaded over loopback. Prints numbers; asserts none.

    .venv/bin/python bench/api.py [--list-seconds 10] [--login-seconds 5]

(a) authenticated GET /api/projects (5 projects) at concurrency 32: req/s, latency
    percentiles, and the *server's* CPU per request (utime+stime from /proc/<pid>/stat);
(b) login throughput at concurrency 4 (BCRYPT_ROUNDS, default 12 as in production);
(c) p50 of GET /api/projects while 16 logins run at once;
(d) every authenticated read route (`GET /api/projects`, `/api/projects/:id`,
    `/api/auth/me`, `/api/containers/:id/status`) with many users (--users, 2 projects
    each), at concurrency 16: the server's CPU per request for each.

`--db postgres` runs the daemon on a fresh PostgreSQL database of the test server's
(scripts/ensure-postgres; dropped afterwards) instead of its SQLite file.

The load generator runs on the same machine and competes with the server for CPU:
latencies include that; the CPU-per-request figure does not (it is the server's own).
Every loop is bounded by a deadline and a maximum count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support import HostdServer, tls, unique_email

PASSWORD = "bench-password"  # noqa: S105 - a throwaway bench account
MAX_REQUESTS = 1_000_000
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def hammer(url: str, method: str, path: str, concurrency: int, seconds: float,
                 limit: int, **kwargs) -> tuple[list[float], int, float]:
    """`concurrency` workers repeat one request until the deadline: (latencies ms, errors, s)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits, verify=tls()) as client:
        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline and len(latencies) + errors < limit:
                start = time.perf_counter()
                resp = await client.request(method, path, **kwargs)
                if resp.status_code >= 400:
                    errors += 1
                else:
                    latencies.append((time.perf_counter() - start) * 1000)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, errors, time.monotonic() - started


def setup_user(server: HostdServer) -> tuple[str, str]:
    email = unique_email("bench")
    with httpx.Client(base_url=server.url, timeout=60, verify=tls()) as c:
        resp = c.post("/api/auth/register",
                      json={"email": email, "password": PASSWORD, "name": "Bench"})
        resp.raise_for_status()
        token = resp.json()["token"]
        for i in range(5):
            c.post("/api/projects", headers={"Authorization": f"Bearer {token}"},
                   json={"name": f"app-{i}", "github_url": "https://github.com/o/r",
                         "template": "static"}).raise_for_status()
    return email, token


async def hammer_many(url: str, calls: list[tuple[str, dict[str, str]]], concurrency: int,
                      seconds: float) -> tuple[int, int, float]:
    """Like `hammer`, cycling through (path, headers) calls: (ok, errors, seconds)."""
    ok = errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits, verify=tls()) as client:
        async def worker(offset: int) -> None:
            nonlocal ok, errors
            n = offset
            while time.monotonic() < deadline and ok + errors < MAX_REQUESTS:
                path, headers = calls[n % len(calls)]
                n += concurrency
                resp = await client.get(path, headers=headers)
                ok, errors = (ok + 1, errors) if resp.status_code < 400 else (ok, errors + 1)

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return ok, errors, time.monotonic() - started


def many_users(server: HostdServer, count: int) -> list[tuple[dict[str, str], list[str]]]:
    """`count` users with two projects each: (auth headers, project ids)."""
    users = []
    with httpx.Client(base_url=server.url, timeout=60, verify=tls()) as c:
        for _ in range(count):
            resp = c.post("/api/auth/register", json={
                "email": unique_email("many"), "password": PASSWORD, "name": "Many"})
            resp.raise_for_status()
            headers = {"Authorization": f"Bearer {resp.json()['token']}"}
            ids = [c.post("/api/projects", headers=headers, json={
                "name": f"app-{i}", "github_url": "https://github.com/o/r",
                "template": "static"}).raise_for_status().json()["project"]["id"]
                for i in range(2)]
            users.append((headers, ids))
    return users


async def reads_per_route(server: HostdServer, pid: int, users: int, seconds: float) -> None:
    """(d) the server's CPU per request of each authenticated read, many users."""
    people = many_users(server, users)
    routes = {
        "GET /api/projects": lambda h, ids: "/api/projects",
        "GET /api/projects/:id": lambda h, ids: f"/api/projects/{ids[0]}",
        "GET /api/auth/me": lambda h, ids: "/api/auth/me",
        "GET /api/containers/:id/status": lambda h, ids: f"/api/containers/{ids[1]}/status",
    }
    for title, path in routes.items():
        calls = [(path(h, ids), h) for h, ids in people]
        await hammer_many(server.url, calls, 8, 0.5)  # warm-up: every user's token cached
        cpu0 = cpu_seconds(pid)
        ok, errors, elapsed = await hammer_many(server.url, calls, 16, seconds)
        cpu = cpu_seconds(pid) - cpu0
        print(f"(d) {title:30} {users} users c=16: {ok / elapsed:7.1f}/s, {errors} errors, "
              f"server {cpu * 1000 / max(ok + errors, 1):.3f} ms CPU/request")


def postgres_database() -> tuple[str, Callable[[], None]]:
    """A new database on the test server (scripts/ensure-postgres) and its dropper."""
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    from tests.plugins.postgres import URL_ENV, URL_FILE

    admin_url = os.environ.get(URL_ENV) or URL_FILE.read_text().strip()
    name = f"hostd_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def report(title: str, latencies: list[float], errors: int, elapsed: float) -> None:
    print(f"{title}: {len(latencies)} ok, {errors} errors in {elapsed:.1f} s "
          f"= {len(latencies) / elapsed:.1f}/s; latency ms p50 {pct(latencies, .5):.1f} "
          f"p95 {pct(latencies, .95):.1f} p99 {pct(latencies, .99):.1f}")


def wrk_list(url: str, pid: int, token: str, seconds: float) -> None:
    """(a) again with wrk (C, 2 threads), a load generator that needs far less CPU than
    httpx: the server then runs near saturation, as it would under real load."""
    cpu0 = cpu_seconds(pid)
    done = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{int(seconds)}s", "--latency",
         "-H", f"Authorization: Bearer {token}", f"{url}/api/projects"],
        capture_output=True, text=True, check=False, timeout=seconds + 30)
    cpu = cpu_seconds(pid) - cpu0
    total = re.search(r"(\d+) requests in", done.stdout)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    p50 = re.search(r"^\s+50%\s+(\S+)$", done.stdout, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)$", done.stdout, re.M)
    if not (total and rate):
        print(f"(a') wrk failed: {done.stderr.strip()[:200]}")
        return
    served = int(total.group(1))
    print(f"(a') wrk GET /api/projects c=32: {served} ok in {seconds:.0f} s = "
          f"{float(rate.group(1)):.1f}/s; latency p50 {p50.group(1) if p50 else '?'} "
          f"p99 {p99.group(1) if p99 else '?'}")
    print(f"    server CPU {cpu:.2f} s for {served} requests = "
          f"{cpu * 1000 / max(served, 1):.3f} ms CPU/request "
          f"(server used {cpu / seconds * 100:.0f}% of one core)")


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hostd-bench-"))
    database_url, drop = postgres_database() if args.db == "postgres" else (None, None)
    server = HostdServer(data_dir=data_dir / "data", database_url=database_url, env_overrides={
        "BCRYPT_ROUNDS": str(args.bcrypt_rounds), "HOSTD_ALLOW_LOCAL_REPOS": "false"})
    try:
        server.start()
        pid = server.process.pid
        email, token = setup_user(server)
        headers = {"Authorization": f"Bearer {token}"}
        print(f"hostd pid {pid}, {os.cpu_count()} CPUs, BCRYPT_ROUNDS={args.bcrypt_rounds}, "
              f"python {sys.version.split()[0]}, database {args.db}; load generator on the "
              "same machine")
        if args.reads_only:
            await reads_per_route(server, pid, args.users, args.list_seconds)
            return

        # warm-up (imports, first connections, SQLite page cache)
        await hammer(server.url, "GET", "/api/projects", 8, 1.0, 2000, headers=headers)

        # (a) list projects at concurrency 32
        cpu0 = cpu_seconds(pid)
        lat, err, el = await hammer(server.url, "GET", "/api/projects", 32, args.list_seconds,
                                    MAX_REQUESTS, headers=headers)
        cpu = cpu_seconds(pid) - cpu0
        report("(a) GET /api/projects c=32", lat, err, el)
        served = len(lat) + err
        print(f"    server CPU {cpu:.2f} s for {served} requests = "
              f"{cpu * 1000 / max(served, 1):.3f} ms CPU/request "
              f"(server used {cpu / el * 100:.0f}% of one core)")

        if shutil.which("wrk"):
            wrk_list(server.url, pid, token, args.list_seconds)

        # (b) login throughput at concurrency 4
        body = {"email": email, "password": PASSWORD}
        cpu0 = cpu_seconds(pid)
        lat, err, el = await hammer(server.url, "POST", "/api/auth/login", 4,
                                    args.login_seconds, 10_000, json=body)
        cpu = cpu_seconds(pid) - cpu0
        report("(b) POST /api/auth/login c=4", lat, err, el)
        print(f"    server CPU {cpu * 1000 / max(len(lat) + err, 1):.1f} ms/login")

        # (c) list latency while 16 logins run at once
        async def logins() -> tuple[list[float], int, float]:
            return await hammer(server.url, "POST", "/api/auth/login", 16,
                                args.login_seconds, 10_000, json=body)

        async def lists() -> tuple[list[float], int, float]:
            await asyncio.sleep(0.3)  # let the logins fill the thread pool first
            return await hammer(server.url, "GET", "/api/projects", 1,
                                args.login_seconds - 0.6, 10_000, headers=headers)

        (llat, lerr, lel), (plat, perr, pel) = await asyncio.gather(logins(), lists())
        report("(c) GET /api/projects c=1 during 16 logins", plat, perr, pel)
        report("    the 16 concurrent logins", llat, lerr, lel)
        await reads_per_route(server, pid, args.users, args.list_seconds)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        if drop is not None:
            drop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list-seconds", type=float, default=10.0)
    parser.add_argument("--login-seconds", type=float, default=5.0)
    parser.add_argument("--bcrypt-rounds", type=int, default=12)
    parser.add_argument("--users", type=int, default=200, help="(d)'s users")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--reads-only", action="store_true", help="run (d) only")
    asyncio.run(main(parser.parse_args()))
