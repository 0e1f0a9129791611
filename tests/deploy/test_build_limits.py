"""Builds are bounded on the real engine: a deadline, a pids cap, a CPU cap, an output
cap, lines of any length in bounded memory, and a network of their own."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from ipaddress import ip_interface, ip_network
from pathlib import Path

import httpx
import pytest

from hostd.engine.networks import build_network_name
from tests.deploy.conftest import create, make_repo, wait_status
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, logged_in

pytestmark = pytest.mark.docker


@contextlib.contextmanager
def daemon_client(engine, tmp_path: Path, **env: str) -> Iterator[tuple[HostdServer, httpx.Client]]:
    with own_daemon(engine, tmp_path / "data", **env) as server, logged_in(server) as client:
        yield server, client


def dockerfile_repo(tmp_path: Path, *lines: str) -> str:
    return make_repo(tmp_path / f"repo-{uuid.uuid4().hex[:6]}",
                     {"Dockerfile": "\n".join(["FROM hostd/busybox:1", *lines]) + "\n"})


def build_log(client: httpx.Client, project_id: str) -> list[str]:
    resp = client.get(f"/api/projects/{project_id}/logs", params={"source": "build",
                                                                    "tail": 2000})
    return resp.json()["lines"]


def containers_running(engine, marker: str) -> list[str]:
    """Containers (build steps included) whose command holds `marker`."""
    # The summary list, not containers.list(): that inspects each one, and a step
    # container may be removed in between.
    return [c["Id"] for c in engine.api.containers(all=True)
            if marker in (c.get("Command") or "")]


def test_a_build_past_its_deadline_is_stopped_and_leaves_nothing(engine, base_images,
                                                                 tmp_path):
    marker = f"deadline-{uuid.uuid4().hex[:8]}"
    url = dockerfile_repo(tmp_path, f"RUN echo {marker} && sleep 300")
    with daemon_client(engine, tmp_path, HOSTD_BUILD_TIMEOUT="4") as (_, client):
        started = time.monotonic()
        project = wait_status(client, create(client, "slow", url, "static")["id"],
                              {"running", "error"}, timeout=60)
        assert project["status"] == "error"
        assert "longer than 4s" in project["status_reason"]
        assert time.monotonic() - started < 30
        deadline = time.monotonic() + 10
        while containers_running(engine, marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert containers_running(engine, marker) == []


def host_pids() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def test_a_process_flood_in_run_stays_under_the_pids_cap(engine, base_images, tmp_path):
    # 600 sleeping children: without a cap the host's process count climbs by 600.
    url = dockerfile_repo(tmp_path, "RUN i=0; while [ $i -lt 600 ]; do sleep 20 & "
                          "i=$((i+1)); done; wait")
    baseline, peak = host_pids(), [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], host_pids())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    with daemon_client(engine, tmp_path, HOSTD_BUILD_PIDS="64") as (_, client):
        watcher.start()
        try:
            project = wait_status(client, create(client, "flood", url, "static")["id"],
                                  {"running", "error"}, timeout=90)
        finally:
            stop.set()
            watcher.join()
    assert project["status"] == "error"
    assert peak[0] - baseline < 64 + 40, (baseline, peak[0])  # 40: the daemon, git, engine


def test_build_steps_get_the_cpu_cap_and_their_own_network(engine, base_images, tmp_path):
    url = dockerfile_repo(
        tmp_path,
        "RUN echo quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) "
        "&& echo; echo addr=$(ip -4 -o addr show eth0 | awk '{print $4}'); sleep 3",
        'CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]')
    with daemon_client(engine, tmp_path, HOSTD_BUILD_CPUS="0.5") as (server, client):
        project = create(client, "capped", url, "static")
        network = wait_for_network(engine, build_network_name(server.instance))  # mid-build
        project = wait_status(client, project["id"], {"running", "error"}, timeout=90)
        lines = build_log(client, project["id"])
        gone = [n for n in engine.networks.list(names=[network.name]) if n.name == network.name]
    assert "quota=50000" in lines, lines
    addr = ip_interface(next(line.removeprefix("addr=") for line in lines
                             if line.startswith("addr=")))
    subnet = ip_network(network.attrs["IPAM"]["Config"][0]["Subnet"])
    # hostd's own range (HOSTD_APP_SUBNETS), never the engine's default pools.
    assert addr.ip in subnet and subnet.subnet_of(ip_network("10.213.0.0/16")), (addr, subnet)
    assert network.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert gone == [], "the build network goes when the build is over"


def wait_for_network(engine, name: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (found := [n for n in engine.networks.list(names=[name]) if n.name == name]):
        assert time.monotonic() < deadline, f"no network {name} while the build ran"
        time.sleep(0.1)
    return found[0]


def daemon_rss_mb(server: HostdServer) -> float:
    assert server.process is not None
    with open(f"/proc/{server.process.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_a_line_without_newlines_keeps_hostd_memory_bounded(engine, base_images, tmp_path):
    # 48 MB on one line: buffered whole, hostd's memory would grow by ~100 MB.
    url = dockerfile_repo(tmp_path, "RUN head -c 48000000 /dev/zero | tr '\\0' x",
                          'CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]')
    with daemon_client(engine, tmp_path, HOSTD_BUILD_LOG_MB="100") as (server, client):
        before = daemon_rss_mb(server)
        project = wait_status(client, create(client, "oneline", url, "static")["id"],
                              {"running", "error"}, timeout=120)
        grown = daemon_rss_mb(server) - before
        log_size = sum(len(line) for line in build_log(client, project["id"]))
    assert project["status"] == "running", project["status_reason"]
    assert grown < 40, f"hostd grew by {grown:.0f} MB"
    assert log_size < 5_000_000


def test_endless_output_ends_the_build(engine, base_images, tmp_path):
    url = dockerfile_repo(tmp_path, "RUN yes output-without-end")
    with daemon_client(engine, tmp_path, HOSTD_BUILD_LOG_MB="1") as (_, client):
        project = wait_status(client, create(client, "chatty", url, "static")["id"],
                              {"running", "error"}, timeout=60)
    assert project["status"] == "error"
    assert "more than 1 MB of output" in project["status_reason"]


def test_deleting_a_project_stops_its_build_at_once(engine, base_images, tmp_path):
    marker = f"deleted-{uuid.uuid4().hex[:8]}"
    url = dockerfile_repo(tmp_path, f"RUN echo {marker} && sleep 300")
    with daemon_client(engine, tmp_path) as (_, client):
        project = create(client, "doomed", url, "static")
        deadline = time.monotonic() + 60
        while not containers_running(engine, marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert containers_running(engine, marker), "the build never started its step"
        assert client.delete(f"/api/projects/{project['id']}").status_code == 200
        deadline = time.monotonic() + 10
        while containers_running(engine, marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert containers_running(engine, marker) == []
        assert client.get(f"/api/projects/{project['id']}").status_code == 404
