"""Dashboard benchmark: the projects page in headless Chromium (Debian's, driven by
Playwright) against a real hostd subprocess with 50 projects. Prints numbers; asserts none.

    .venv/bin/python bench/dashboard.py [--projects 50] [--loads 5] [--tick-seconds 60]

(a) time to first meaningful paint of the projects page: from navigation start to the
    first frame painted after every project's row is in the page (median and worst of
    `--loads` loads), beside the browser's own first-contentful-paint;
(b) the page's CPU while every project ticks every 4 s: Chromium's performance metrics
    (CDP Performance.getMetrics: TaskDuration, ScriptDuration, LayoutDuration,
    RecalcStyleDuration of the page's main thread) over `--tick-seconds`, as a share of
    one core and per tick, and the layout shift the ticks caused (should be 0).

The projects are made without Docker (their deploys fail at the clone: no network), so
none runs and the daemon sends them no metrics. The ticks are therefore played to the
page: its EventSource request is answered by the benchmark with one `metrics_updated`
event per project and `retry: 4000`, so the browser comes back every 4 s for the next
batch: the page parses and renders exactly what a live stream of 50 running projects
sends it, plus one reconnect per tick.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.plugins.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support import HostdServer, tls, unique_email

PASSWORD = "bench-pass-1"  # noqa: S105 - a throwaway account of the bench's own daemon
TICK_S = 4.0
PAINTED = """() => new Promise((resolve) => {
  const wait = () => {
    const mark = performance.getEntriesByName("hostd:projects-rendered")[0];
    if (!mark) { setTimeout(wait, 5); return; }
    requestAnimationFrame(() => requestAnimationFrame(() => resolve({
      painted: performance.now(),
      fcp: (performance.getEntriesByName("first-contentful-paint")[0] || {}).startTime,
      rows: document.querySelectorAll("#rows tr").length,
    })));
  };
  wait();
})"""
SHIFTS = """() => { window.benchShift = 0; new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.benchShift += e.value;
}).observe({ type: "layout-shift", buffered: false }); }"""


def make_projects(server: HostdServer, count: int) -> tuple[str, list[str]]:
    email = unique_email("dash")
    with httpx.Client(base_url=server.url, timeout=60, verify=tls()) as c:
        resp = c.post("/api/auth/register",
                      json={"email": email, "password": PASSWORD, "name": "Bench"})
        resp.raise_for_status()
        headers = {"Authorization": f"Bearer {resp.json()['token']}"}
        ids = [c.post("/api/projects", headers=headers, json={
            "name": f"app-{i:02d}", "github_url": "https://github.com/o/r",
            "template": "static"}).raise_for_status().json()["project"]["id"]
            for i in range(count)]
    return email, ids


class Ticks:
    """Answers the page's event stream: a batch of metrics for every project per call."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.requests = {i: 0 for i in ids}
        self.batches = 0
        self.next_id = 1

    def body(self) -> str:
        self.batches += 1
        lines = ["retry: 4000\n"]
        for project_id in self.ids:
            self.requests[project_id] += random.randint(0, 400)
            metrics = {"cpu": round(random.uniform(0, 90), 1),
                       "memory": round(random.uniform(5, 500), 1),
                       "requests": self.requests[project_id]}
            data = json.dumps({"projectId": project_id, "metrics": metrics})
            lines.append(f"id: {self.next_id}\nevent: metrics_updated\ndata: {data}\n")
            self.next_id += 1
        return "\n".join(lines) + "\n"

    def handle(self, route: Any) -> None:
        route.fulfill(status=200, body=self.body(),
                      headers={"content-type": "text/event-stream", "cache-control": "no-cache"})


def dashboard(server: HostdServer) -> str:
    """The dashboard's own name, where its session lives (hostd.api.session)."""
    return f"http://hostd.localhost:{server.port}"


SIGN_IN = """async ([email, password]) => {
    const reply = await fetch("/api/auth/session", {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({email, password})});
    const data = await reply.json();
    localStorage.setItem("hostd.csrf", data.csrf_token);
    return reply.ok;
}"""


def sign_in(context: Any, server: HostdServer, email: str) -> None:
    """Signed in from a page of the dashboard (Chromium resolves hostd.localhost): the
    cookie in the context, the CSRF token where the pages keep it."""
    page = context.new_page()
    page.goto(f"{dashboard(server)}/signin")
    assert page.evaluate(SIGN_IN, [email, PASSWORD])
    page.close()


def first_paint(context: Any, server: HostdServer, loads: int, count: int) -> None:
    painted, fcps = [], []
    page = context.new_page()
    context.route("**/api/containers/events", lambda route: route.abort())  # paint only
    for _ in range(loads):
        page.goto(f"{dashboard(server)}/", wait_until="commit")
        result = page.evaluate(PAINTED)
        assert result["rows"] == count, result
        painted.append(result["painted"])
        fcps.append(result["fcp"] or math.nan)
    page.close()
    context.unroute("**/api/containers/events")
    print(f"(a) projects page, {count} projects, {loads} loads: first meaningful paint "
          f"median {statistics.median(painted):.0f} ms, worst {max(painted):.0f} ms "
          f"(first-contentful-paint median {statistics.median(fcps):.0f} ms)")


def tick_cpu(context: Any, server: HostdServer, ids: list[str], seconds: float) -> None:
    ticks = Ticks(ids)
    context.route("**/api/containers/events", ticks.handle)
    page = context.new_page()
    page.goto(f"{dashboard(server)}/")
    page.wait_for_selector("body[data-loaded=true]")
    page.wait_for_timeout(2 * TICK_S * 1000)  # the first batches: samples to draw from
    page.evaluate(SHIFTS)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
    keys = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")

    def metrics() -> dict[str, float]:
        got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return {k: got.get(k, 0.0) for k in keys}

    before, batches, start = metrics(), ticks.batches, time.monotonic()
    page.wait_for_timeout(seconds * 1000)
    after, elapsed = metrics(), time.monotonic() - start
    batches = ticks.batches - batches
    used = {k: after[k] - before[k] for k in keys}
    shift = page.evaluate("window.benchShift")
    per_tick = used["TaskDuration"] / max(batches, 1) * 1000
    print(f"(b) {len(ids)} projects ticking every {TICK_S:.0f} s for {elapsed:.0f} s "
          f"({batches} ticks): page main thread {used['TaskDuration']:.3f} s busy = "
          f"{100 * used['TaskDuration'] / elapsed:.2f}% of one core, {per_tick:.1f} ms per tick "
          f"(script {used['ScriptDuration'] * 1000:.0f} ms, layout "
          f"{used['LayoutDuration'] * 1000:.0f} ms, style "
          f"{used['RecalcStyleDuration'] * 1000:.0f} ms in all); layout shift {shift:.4f}")
    page.close()


def main(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    data_dir = Path(tempfile.mkdtemp(prefix="hostd-bench-dash-")) / "data"
    server = HostdServer(data_dir=data_dir, env_overrides={
        "HOSTD_ALLOW_LOCAL_REPOS": "false", "HOSTD_MAX_PROJECTS_PER_USER": "0",
        "HOSTD_MAX_QUEUED_DEPLOYS": "100", "HOSTD_MAX_MEMORY_MB_PER_USER": "0"})
    try:
        server.start()
        email, ids = make_projects(server, args.projects)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=CHROMIUM_ARGS)
            version = browser.version
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            sign_in(context, server, email)
            print(f"Chromium {version} headless, 1280x800, hostd pid {server.process.pid}")
            first_paint(context, server, args.loads, args.projects)
            tick_cpu(context, server, ids, args.tick_seconds)
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--tick-seconds", type=float, default=60.0)
    main(parser.parse_args())
