"""Zero-downtime benchmark: a running app under 200 req/s while it changes. Prints numbers.

    .venv/bin/python bench/zero_downtime.py [--rate 200] [--seconds 30]

A real hostd subprocess (two router workers) on the real engine (warm base images), one
nodejs app (no dependencies) and a paced load through the router: `--rate` GETs a second
for `--seconds`, the change asked for 5 s in. For each change (a redeploy of a new commit,
a config change, a restart, a rollback, a deploy whose app exits with code 3) it prints the
requests served and failed, p99 latency before the change and while it happened (from the
API call to 2 s after the new release first served), and the time from the API call to the
new release serving. Target: 0 failed, p99 during ≤ 2 × p99 before. Bounded: every loop
stops at `--seconds` (at most 120) and `--rate` (at most 1000), a deploy at 240 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.deploy.test_zero_downtime import EXITS_AT_START, commit, deployed, first_release
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, logged_in, tls

CHANGE_AT_S = 5.0
THREADS = 8


@dataclass
class Load:
    """Paced GETs: request i is sent at start + i / rate, by whichever thread is free."""

    url: str
    host: str
    rate: float
    seconds: float
    # (sent at, latency s, status, body) per request
    results: list[tuple[float, float, int, str]] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        self.start = time.monotonic()
        threads = [threading.Thread(target=self._worker) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _ticket(self) -> float | None:
        with self._lock:
            index, self._next = self._next, self._next + 1
        due = self.start + index / self.rate
        return due if due - self.start < self.seconds else None

    def _worker(self) -> None:
        with httpx.Client(timeout=10, verify=tls(), headers={"Host": self.host}) as client:
            while (due := self._ticket()) is not None:
                time.sleep(max(0.0, due - time.monotonic()))
                sent = time.monotonic()
                try:
                    reply = client.get(self.url)
                    status, body = reply.status_code, reply.text
                except httpx.HTTPError as exc:
                    status, body = 0, type(exc).__name__
                with self._lock:
                    self.results.append((sent, time.monotonic() - sent, status, body))


def p99(latencies: list[float]) -> float:
    if len(latencies) < 2:
        return latencies[0] if latencies else 0.0
    return statistics.quantiles(latencies, n=100)[98]


def measure(server: HostdServer, project: dict, name: str, change: Callable[[], None],
            new_body: str | None, args: argparse.Namespace) -> None:
    host = project["url"].removeprefix("http://").split(":")[0]
    load = Load(f"http://127.0.0.1:{server.router_port}/", host, args.rate, args.seconds)
    runner = threading.Thread(target=load.run)
    runner.start()
    time.sleep(CHANGE_AT_S)
    asked = time.monotonic()
    change()
    answered = time.monotonic()
    runner.join()
    results = sorted(load.results)
    served_new = [sent for sent, _, status, body in results
                  if sent >= asked and status == 200 and body == new_body]
    switched = served_new[0] if served_new else None
    window_end = (switched or answered) + 2.0
    before = [lat for sent, lat, status, _ in results if sent < asked and status == 200]
    during = [lat for sent, lat, status, _ in results if asked <= sent <= window_end]
    failed = sum(1 for _, _, status, _ in results if status != 200)
    to_new = f"{switched - asked:.2f}" if switched else "—"
    print(f"{name:<28} {len(results):>6} {failed:>6} {p99(before) * 1000:>9.1f} "
          f"{p99(during) * 1000:>9.1f} {to_new:>9}")


def run_changes(server: HostdServer, api: httpx.Client, root: Path,
                args: argparse.Namespace) -> None:
    project, repo = first_release(api, root, "zerodowntime")
    pid = project["id"]

    def redeploy() -> None:
        assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
        deployed(api, pid)

    commit(repo, {"VERSION": "v2"})
    measure(server, project, "redeploy of a new commit", redeploy, "v2", args)
    measure(server, project, "config change (PATCH env)", lambda: api.patch(
        f"/api/projects/{pid}/env", json={"env": {"GREETING": "-hi"}}).raise_for_status(),
        "v2-hi", args)
    measure(server, project, "restart", lambda: api.post(
        f"/api/containers/{pid}/restart").raise_for_status(), None, args)
    measure(server, project, "rollback (to v2)", lambda: api.post(
        f"/api/projects/{pid}/rollback", json={}).raise_for_status(), "v2", args)
    commit(repo, {"server.js": EXITS_AT_START, "VERSION": "v3"})
    measure(server, project, "deploy whose app exits (3)", redeploy, None, args)
    status = api.get(f"/api/projects/{pid}").json()["project"]["status"]
    print(f"  after the failed deploy the project is {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    args.rate, args.seconds = min(args.rate, 1000.0), min(args.seconds, 120.0)
    with tempfile.TemporaryDirectory(prefix="hostd-bench-zd-") as tmp, \
            own_daemon(docker.from_env(), Path(tmp) / "data",
                       HOSTD_ROUTER_WORKERS="2") as server, \
            logged_in(server, timeout=120) as api:
        print(f"{args.rate:g} req/s for {args.seconds:g} s per change, asked {CHANGE_AT_S:g} s in")
        print(f"{'change':<28} {'sent':>6} {'failed':>6} {'p99 before':>9} {'p99 during':>9} "
              f"{'to new s':>9}")
        run_changes(server, api, Path(tmp), args)


if __name__ == "__main__":
    main()
