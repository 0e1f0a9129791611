"""Data-plane benchmarks: the router, the metrics collector, the event hub. Prints numbers only.

  router     wrk (keep-alive, 32 connections, then 1) against an app container directly,
             through hostd's router, and through Debian's nginx as a reverse proxy on the
             same route (the anchor), with the router's CPU per request. Three apps (--app):
             `node`, Node's http server with keep-alive (the benchmark the issue asks for),
             `nginx`, the static template's server (hostd/nginx) with the same page,
             and `busybox`, busybox httpd as the static template served sites before
             nginx (one connection per request, a fork each, a listen backlog of 9).
             Needs `wrk` and `nginx` (apt-get install wrk nginx-light).
  collector  a real hostd with 50 idle running busybox containers as projects: the
             daemon's CPU (user+sys from /proc) over a measured window.
  hub        a real hostd, one user with 10 running projects and 500 SSE subscribers:
             the daemon's CPU over a measured window, and the events the subscribers got.

Everything it starts (containers labelled hostd.bench=<run id>, processes) is removed at
the end. Usage: .venv/bin/python bench/dataplane.py {router,collector,hub} [--seconds N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import httpx

from hostd.source.bases import NGINX_IMAGE
from tests.support import HostdServer, free_port, register, tls

RUN_ID = uuid.uuid4().hex[:8]
LABEL = {"hostd.bench": RUN_ID}
SITE_CMD = ("mkdir -p /tmp/www && echo '<h1>hello</h1>' > /tmp/www/index.html "
            "&& exec httpd -f -p 8000 -h /tmp/www")
# The same 15-byte page from Node's http server, which keeps connections alive.
NODE_SITE_JS = ("const page = Buffer.from('<h1>hello</h1>\\n');"
                "require('http').createServer((req, res) => {"
                "res.writeHead(200, {'content-type': 'text/html', 'content-length': page.length});"
                "res.end(page);}).listen(8000);")
# The static template's own server: the hostd/nginx base with the same page, as root only
# to write the page into /www before the start script takes over.
NGINX_SITE_CMD = "echo '<h1>hello</h1>' > /www/index.html && exec hostd-nginx static"
APPS = {"busybox": ("hostd/busybox:1", ["sh", "-c", SITE_CMD]),
        "node": ("hostd/node:24", ["node", "-e", NODE_SITE_JS]),
        "nginx": (NGINX_IMAGE, ["sh", "-c", NGINX_SITE_CMD])}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- shared helpers ---------------------------------------------------------------------

@contextlib.contextmanager
def busybox_sites(count: int, app: str = "busybox") -> Iterator[list[tuple[str, int]]]:
    """`count` site containers, each (id, host port on 127.0.0.1); removed after."""
    client = docker.from_env()
    image, command = APPS[app]
    made = []
    try:
        for _ in range(count):
            container = client.containers.run(
                image, command, detach=True, labels=LABEL,
                ports={"8000/tcp": ("127.0.0.1", None)}, mem_limit="256m")
            made.append(container)
        sites = []
        for container in made:
            container.reload()
            port = int(container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])
            sites.append((container.id, port))
        for _, port in sites:
            wait_http(f"http://127.0.0.1:{port}/")
        yield sites
    finally:
        for container in made:
            container.remove(force=True)
        client.close()


def wait_http(url: str, headers: dict[str, str] | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, headers=headers, timeout=1, verify=tls()).status_code < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU of `pid` and its direct children (the daemon and its router workers)."""
    total = cpu_seconds(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def measure_cpu(pid: int, seconds: float) -> float:
    """Percent of one core that `pid` used over `seconds`."""
    before, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - start) * 100


def add_running_projects(server: HostdServer, user_id: str,
                         sites: list[tuple[str, int]]) -> list[str]:
    """Rows for containers made here, as if deployed: the collector samples them."""
    from sqlmodel import Session, create_engine

    from hostd.store.models import Project

    engine = create_engine(f"sqlite:///{server.data_dir / 'hostd.db'}")
    ids = []
    with Session(engine) as session:
        for index, (container_id, port) in enumerate(sites):
            project = Project(user_id=user_id, name=f"b{index}", template="static",
                              github_url="https://example.com/b.git", status="running",
                              container_id=container_id, host_port=port)
            session.add(project)
            ids.append(project.id)
        session.commit()
    engine.dispose()
    return ids


@contextlib.contextmanager
def daemon(extra_env: dict[str, str] | None = None) -> Iterator[HostdServer]:
    with tempfile.TemporaryDirectory(prefix="hostd-bench-") as tmp:
        server = HostdServer(data_dir=Path(tmp), env_overrides={
            "HOSTD_INSTANCE": f"bench-{RUN_ID}", **(extra_env or {})}).start()
        try:
            yield server
        finally:
            server.stop()


# --- router -----------------------------------------------------------------------------

WRK_LATENCY = re.compile(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
WRK_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, host: str | None, seconds: int, connections: int) -> tuple[float, float]:
    """(requests/s, p50 ms) for `connections` keep-alive connections."""
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if host:
        command[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         timeout=seconds + 30).stdout
    latency = WRK_LATENCY.search(out)
    rate = WRK_RATE.search(out)
    if not latency or not rate:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return float(rate.group(1)), float(latency.group(1)) * UNITS_MS[latency.group(2)]


NGINX_CONF = """
worker_processes 1;
error_log {tmp}/error.log;
pid {tmp}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(upstream: int) -> Iterator[int]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="hostd-bench-nginx-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=upstream, port=port))
        process = subprocess.Popen(["nginx", "-p", tmp, "-c", str(conf), "-g", "daemon off;"])
        try:
            wait_http(f"http://127.0.0.1:{port}/")
            yield port
        finally:
            process.terminate()
            process.wait(10)


def bench_router(seconds: int, workers: int | None, apps: list[str]) -> None:
    if not (shutil.which("wrk") and shutil.which("nginx")):
        sys.exit("needs wrk and nginx: apt-get install -y wrk nginx-light")
    for app in apps:
        print(f"== app: {app}")
        bench_router_app(seconds, workers, app)


def bench_router_app(seconds: int, workers: int | None, app: str) -> None:
    # The daemon's default (one worker per CPU) unless --router-workers says otherwise.
    env = {"HOSTD_ROUTER_WORKERS": str(workers)} if workers else None
    with busybox_sites(1, app) as sites, daemon(env) as server, \
            httpx.Client(base_url=server.url, verify=tls()) as api:
        (container_id, port), = sites
        _, user = register(api)
        add_running_projects(server, user["id"], sites)
        host = f"b0.{user['handle']}.localhost:{server.router_port}"
        router_url = f"http://127.0.0.1:{server.router_port}/"
        wait_http(router_url, {"Host": host})
        targets = [("direct to the container", f"http://127.0.0.1:{port}/", None),
                   ("hostd router", router_url, host)]
        with nginx(port) as nginx_port:
            targets.append(("nginx 1 worker", f"http://127.0.0.1:{nginx_port}/", host))
            assert server.process is not None
            for connections in (32, 1):
                rows = []
                for name, url, header in targets:
                    before = tree_cpu_seconds(server.process.pid)
                    rate, p50 = wrk(url, header, seconds, connections)
                    used = tree_cpu_seconds(server.process.pid) - before
                    cpu_ms = used * 1000 / (rate * seconds) if header == host else None
                    rows.append((name, rate, p50, cpu_ms))
                print_rows(connections, rows)


def print_rows(connections: int, rows: list[tuple[str, float, float, float | None]]) -> None:
    direct_p50 = rows[0][2]
    print(f"concurrency {connections}")
    print(f"  {'route':26} {'req/s':>9} {'p50 ms':>8} {'added p50 ms':>13} "
          f"{'router CPU ms/req':>18}")
    for name, rate, p50, cpu_ms in rows:
        cpu = f"{cpu_ms:18.3f}" if cpu_ms is not None and name == "hostd router" else ""
        print(f"  {name:26} {rate:9.0f} {p50:8.2f} {p50 - direct_p50:13.2f} {cpu}")


# --- collector and hub ------------------------------------------------------------------

def bench_collector(seconds: int) -> None:
    with busybox_sites(50) as sites, daemon() as server, httpx.Client(base_url=server.url,
                                                                      verify=tls()) as api:
        token, user = register(api)
        add_running_projects(server, user["id"], sites)
        time.sleep(5)  # the first samples; then the steady state is measured
        assert server.process is not None
        cpu = measure_cpu(server.process.pid, seconds)
        sample = api.get("/api/projects", headers={"Authorization": f"Bearer {token}"}).json()
    sampled = sum(1 for p in sample["projects"] if p["metrics"]["memory"] > 0)
    print(f"50 idle containers, interval 4 s: daemon CPU {cpu:.2f} % of one core over "
          f"{seconds} s; projects with a measured memory: {sampled}/50")


async def _subscribers(url: str, token: str, count: int, seconds: float) -> list[int]:
    received = [0] * count
    limits = httpx.Limits(max_connections=count + 10)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(
            30, read=None), verify=tls()) as http:

        async def one(index: int) -> None:
            async with http.stream("GET", "/api/containers/events",
                                   params={"access_token": token}) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("event: metrics_updated"):
                        received[index] += 1

        tasks = [asyncio.create_task(one(i)) for i in range(count)]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return received


def bench_hub(seconds: int) -> None:
    with busybox_sites(10) as sites, daemon() as server, httpx.Client(base_url=server.url,
                                                                      verify=tls()) as api:
        token, user = register(api)
        add_running_projects(server, user["id"], sites)
        assert server.process is not None
        pid = server.process.pid
        idle = measure_cpu(pid, seconds / 2)
        # The subscribers run in a child process, so their CPU is not the daemon's.
        child = subprocess.Popen([sys.executable, __file__, "_subscribe", server.url, token,
                                  str(seconds + 10)], stdout=subprocess.PIPE, text=True)
        time.sleep(8)  # connections up, a couple of intervals in
        subs = httpx.get(f"{server.url}/healthz", verify=tls()).json()["subscribers"]
        cpu = measure_cpu(pid, seconds)
        out, _ = child.communicate(timeout=seconds + 60)
    print(f"10 running projects, {subs} subscribers: daemon CPU {cpu:.2f} % of one core "
          f"over {seconds} s (without subscribers: {idle:.2f} %); {out.strip()}")


def subscribe_main(url: str, token: str, seconds: float) -> None:
    received = asyncio.run(_subscribers(url, token, 500, seconds))
    print(f"metrics_updated per subscriber: min {min(received)}, max {max(received)}")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "_subscribe":
        subscribe_main(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("which", choices=["router", "collector", "hub"])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--router-workers", type=int, default=None,
                        help="HOSTD_ROUTER_WORKERS for the router bench (default: CPUs)")
    parser.add_argument("--app", choices=[*APPS, "both"], default="both",  # both: all
                        help="the app behind the router (router bench)")
    args = parser.parse_args()
    if args.which == "router":
        apps = ["node", "nginx", "busybox"] if args.app == "both" else [args.app]
        bench_router(args.seconds, args.router_workers, apps)
        return
    {"collector": bench_collector, "hub": bench_hub}[args.which](args.seconds)


if __name__ == "__main__":
    main()
