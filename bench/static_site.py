"""A static site's container, served by busybox httpd (the old template) and by nginx (now).

    .venv/bin/python bench/static_site.py [--seconds 10] [--connections 32]

The same small page is built both ways and run with hostd's default limits (1 CPU,
512 MB, 256 pids, user 65534, no-new-privileges) through ``run_container``, exactly as
a deploy's run step does. Then, directly against each container's 127.0.0.1 port:
``wrk -t2 -cN -dS --latency`` (wrk keeps connections alive; busybox closes every one, so
there wrk reconnects per request), and a burst of 64 new connections opened at once
(the slowest answer shows SYNs dropped by a small listen backlog: a retry costs 1 s).
Needs ``wrk``. Everything it creates carries ``hostd.bench=<run id>`` and is removed.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker

from hostd.engine import (
    build_image,
    remove_container,
    remove_image,
    render_dockerfile,
    resolve_base_images,
    run_container,
    wait_http,
)

RUN_ID = uuid.uuid4().hex[:8]
LABEL = {"hostd.bench": RUN_ID}
MIB = 1024 * 1024
PAGE = "<!doctype html><h1>hello from a static site</h1>\n"
BURST = 64
# The static template's Dockerfile before this change (busybox httpd, -v logs requests).
BUSYBOX_DOCKERFILE = """\
FROM hostd/busybox:1
COPY public/ /www/
ENV PORT=8000
EXPOSE 8000
USER 65534:65534
CMD ["sh", "-c", "exec httpd -f -v -p $PORT -h /www"]
"""
LATENCY = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(port: int, seconds: int, connections: int) -> dict[str, float]:
    """req/s, p50/p75/p90/p99 in ms, and socket errors (connect+read+write, timeouts)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
               f"http://127.0.0.1:{port}/"]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         timeout=seconds + 30).stdout
    rate = RATE.search(out)
    if rate is None:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    result = {"req/s": float(rate.group(1))}
    for pct, value, unit in LATENCY.findall(out):
        result[f"p{pct}"] = float(value) * UNITS_MS[unit]
    errors = ERRORS.search(out)
    counts = [int(n) for n in errors.groups()] if errors else [0, 0, 0, 0]
    result["errors"] = float(sum(counts[:3]))
    result["timeouts"] = float(counts[3])
    return result


def burst(port: int, count: int = BURST) -> float:
    """Seconds until the slowest of ``count`` simultaneous new connections got its answer."""
    barrier = threading.Barrier(count, timeout=20)

    def one() -> float:
        barrier.wait()
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: burst\r\nConnection: close\r\n\r\n")
            if not sock.makefile("rb").readline().startswith(b"HTTP/1.1 200"):
                raise RuntimeError("a burst request was not answered with 200")
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=count) as pool:
        return max(pool.map(lambda _: one(), range(count), timeout=60))


def serve(client: docker.DockerClient, server: str, dockerfile: str, site: Path) -> int:
    tag = f"hostd-bench/static-{server}:{RUN_ID}"
    build_image(client, site, dockerfile, tag, LABEL, 1024 * MIB, lambda line: None)
    info = run_container(client, tag, f"hostd-bench-{RUN_ID}-{server}", labels=LABEL, env={},
                         memory_bytes=512 * MIB, nano_cpus=1_000_000_000, pids_limit=256)
    if info.host_port is None or not wait_http(info.host_port, timeout=30):
        raise RuntimeError(f"the {server} site never answered")
    return info.host_port


def cleanup(client: docker.DockerClient) -> None:
    label = f"hostd.bench={RUN_ID}"
    for container in client.containers.list(all=True, filters={"label": label}):
        remove_container(client, container.id, force=True)
    for image in client.images.list(filters={"label": label}):
        remove_image(client, image.id, force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    client = docker.from_env(timeout=120)
    try:
        with tempfile.TemporaryDirectory(prefix="hostd-bench-site-") as tmp:
            site = Path(tmp)
            (site / "public").mkdir()
            (site / "public" / "index.html").write_text(PAGE)
            nginx = render_dockerfile("static", site, resolve_base_images(client, None, ["nginx"]))
            assert nginx is not None
            for server, dockerfile in (("busybox", BUSYBOX_DOCKERFILE), ("nginx", nginx)):
                port = serve(client, server, dockerfile, site)
                wrk(port, 2, args.connections)  # warm-up, not reported
                numbers = wrk(port, args.seconds, args.connections)
                slowest = burst(port)
                cells = " ".join(f"{key} {value:,.2f}" for key, value in numbers.items())
                print(f"{server:8} c={args.connections}: {cells}; burst of {BURST} new "
                      f"connections: slowest {slowest * 1000:.0f} ms", flush=True)
    finally:
        cleanup(client)
        client.close()


if __name__ == "__main__":
    main()
