"""Mixed load: N concurrent clients list, get, create, start and stop projects for T seconds.

Starts its own hostd (own data dir, loopback port, its own HOSTD_INSTANCE label), registers
a few users, then runs the clients with httpx. Creates point at a repository that does not
exist, so each deploy fails at its clone in milliseconds: the load is the API and the
database, not image builds. Prints throughput, p50/p95/p99, the status codes, 5xx and
transport errors, and "lost writes": 201s whose project is missing from the list after.

Usage: .venv/bin/python bench/load.py [--clients 100] [--seconds 60] [--users 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from tests.support import HostdServer, auth, register, tls

NOWHERE = "file:///nonexistent/load.git"
# (operation, weight): mostly reads, as a dashboard and a few CLIs would do.
MIX = [("list", 40), ("get", 25), ("create", 15), ("start", 10), ("stop", 10)]


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    by_op: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    created: dict[str, set[str]] = field(default_factory=dict)  # token -> project ids

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _one(client: httpx.AsyncClient, op: str, token: str, rng: random.Random,
               results: Results) -> httpx.Response:
    known = list(results.created[token])
    if op == "create" or (op != "list" and not known):
        name = f"l{uuid.uuid4().hex[:12]}"
        return await client.post("/api/projects", json={
            "name": name, "github_url": NOWHERE, "template": "static"})
    if op == "list":
        return await client.get("/api/projects")
    project_id = rng.choice(known)
    if op == "get":
        return await client.get(f"/api/projects/{project_id}")
    return await client.post(f"/api/containers/{project_id}/{op}")


async def _client(url: str, token: str, deadline: float, seed: int, results: Results) -> None:
    rng = random.Random(seed)
    ops, weights = zip(*MIX, strict=True)
    async with httpx.AsyncClient(base_url=url, headers=auth(token), timeout=60,
                                 verify=tls()) as client:
        while time.monotonic() < deadline:
            op = rng.choices(ops, weights)[0]
            start = time.perf_counter()
            try:
                resp = await _one(client, op, token, rng, results)
            except httpx.TransportError:
                results.transport_errors += 1
                continue
            results.latencies_ms.append((time.perf_counter() - start) * 1000)
            results.statuses[resp.status_code] += 1
            results.by_op[op] += 1
            if resp.status_code == 201:
                results.created[token].add(resp.json()["project"]["id"])


def lost_writes(url: str, results: Results) -> int:
    lost = 0
    with httpx.Client(base_url=url, timeout=60, verify=tls()) as client:
        for token, ids in results.created.items():
            listed = client.get("/api/projects", headers=auth(token)).json()["projects"]
            lost += len(ids - {p["id"] for p in listed})
    return lost


def run_load(url: str, tokens: list[str], clients: int, seconds: float) -> Results:
    results = Results(created={token: set() for token in tokens})

    async def main() -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(
            _client(url, tokens[i % len(tokens)], deadline, i, results) for i in range(clients)))

    asyncio.run(main())
    return results


def report(results: Results, seconds: float, lost: int) -> str:
    total = len(results.latencies_ms)
    return "\n".join([
        f"requests {total} in {seconds:.0f} s: {total / seconds:.1f} req/s",
        f"latency ms: p50 {results.percentile(50):.0f}  p95 {results.percentile(95):.0f}  "
        f"p99 {results.percentile(99):.0f}  max {max(results.latencies_ms, default=0):.0f}",
        f"by operation: {dict(results.by_op)}",
        f"status codes: {dict(sorted(results.statuses.items()))}",
        f"errors: 5xx {results.server_errors}, transport {results.transport_errors}, "
        f"lost writes {lost} of {sum(len(ids) for ids in results.created.values())} created",
    ])


# Quotas off: each user creates projects for the whole run, far past 20 (or 8 that
# should run); a 403 after the first seconds would measure refusals, not the API.
# tests/harden/test_load.py runs its daemon with the same.
SETTINGS = {"HOSTD_CLONE_TIMEOUT": "5", "HOSTD_MAX_PROJECTS_PER_USER": "0",
            "HOSTD_MAX_MEMORY_MB_PER_USER": "0"}


def start_server(data_dir: Path) -> HostdServer:
    return HostdServer(data_dir=data_dir, env_overrides={
        "HOSTD_INSTANCE": f"bench-{uuid.uuid4().hex[:12]}", **SETTINGS}).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostd-load-") as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            with httpx.Client(base_url=server.url, timeout=60, verify=tls()) as client:
                tokens = [register(client)[0] for _ in range(args.users)]
            print(f"hostd on {server.url}: {args.clients} clients, {args.users} users, "
                  f"{args.seconds:.0f} s")
            results = run_load(server.url, tokens, args.clients, args.seconds)
            print(report(results, args.seconds, lost_writes(server.url, results)))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
