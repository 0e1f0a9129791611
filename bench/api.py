"""API benchmark: a real hostd subprocess, loaded over loopback. Prints numbers; asserts none.

    .venv/bin/python bench/api.py [--list-seconds 10] [--login-seconds 5]

(a) authenticated GET /api/projects (5 projects) at concurrency 32: req/s, latency
    percentiles, and the *server's* CPU per request (utime+stime from /proc/<pid>/stat);
(b) login throughput at concurrency 4 (BCRYPT_ROUNDS, default 12 as in production);
(c) p50 of GET /api/projects while 16 logins run at once.

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
    server = HostdServer(data_dir=data_dir / "data", env_overrides={
        "BCRYPT_ROUNDS": str(args.bcrypt_rounds), "HOSTD_ALLOW_LOCAL_REPOS": "false"})
    try:
        server.start()
        pid = server.process.pid
        email, token = setup_user(server)
        headers = {"Authorization": f"Bearer {token}"}
        print(f"hostd pid {pid}, {os.cpu_count()} CPUs, BCRYPT_ROUNDS={args.bcrypt_rounds}, "
              f"python {sys.version.split()[0]}; load generator on the same machine")

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
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list-seconds", type=float, default=10.0)
    parser.add_argument("--login-seconds", type=float, default=5.0)
    parser.add_argument("--bcrypt-rounds", type=int, default=12)
    asyncio.run(main(parser.parse_args()))
