"""The router in both modes: in the daemon (HOSTD_ROUTER_WORKERS=1) and as worker
processes (what test_dataplane.py runs on): a crashed worker is restarted, and workers
never outlive the daemon, even one killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.plugins.engine import own_daemon
from tests.router.conftest import METRICS_INTERVAL_S, logged_in
from tests.router.test_dataplane import SITE, Site, deploy, metrics, wait_metrics
from tests.support import HostdServer, tls

pytestmark = pytest.mark.docker


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command may hold spaces and parentheses: the fields follow the last ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def workers_of(server: HostdServer) -> list[int]:
    assert server.process is not None
    return [pid for pid in children(server.process.pid)
            if b"hostd.router.worker" in _cmdline(pid)]


def _cmdline(pid: int) -> bytes:
    # Other children (git, a health check's subprocess) may exit between the listing and
    # this read.
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture(scope="module")
def in_process(engine: docker.DockerClient, base_images,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    with own_daemon(engine, tmp_path_factory.mktemp("in-process"),
                    HOSTD_METRICS_INTERVAL=str(METRICS_INTERVAL_S),
                    HOSTD_ROUTER_WORKERS="1") as server:
        yield server


def test_in_the_daemon_the_router_answers_counts_and_follows_a_stop(in_process, tmp_path):
    server = in_process
    assert workers_of(server) == []
    client = logged_in(server)
    try:
        site = Site(server, deploy(client, tmp_path, "inproc", SITE, "static"))
        for _ in range(7):
            assert site.get().status_code == 200
        seen = wait_metrics(client, site.project["id"], lambda m: m["requests"] >= 7,
                            timeout=10)
        assert seen["requests"] == 7
        assert client.post(f"/api/containers/{site.project['id']}/stop").status_code == 200
        assert site.get().status_code == 503
        assert metrics(client, site.project["id"])["requests"] == 0
    finally:
        client.close()


def test_a_crashed_worker_is_restarted(tmp_path):
    server = HostdServer(data_dir=tmp_path / "data",
                         env_overrides={"HOSTD_ROUTER_WORKERS": "2"}).start()
    try:
        before = workers_of(server)
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        wait_until(lambda: len(set(workers_of(server)) - set(before)) == 1, 10,
                   "the worker was not restarted")
        url = f"http://127.0.0.1:{server.router_port}/"
        for _ in range(20):  # new connections reach both workers' sockets
            resp = httpx.get(url, headers={"Host": "nothing.nobody.localhost"}, verify=tls())
            assert resp.status_code == 404
        server.wait_for_log(r"router worker 0 \(pid \d+\) exited")
    finally:
        server.stop()


def test_workers_die_with_the_daemon(tmp_path):
    server = HostdServer(data_dir=tmp_path / "data",
                         env_overrides={"HOSTD_ROUTER_WORKERS": "2"}).start()
    pids = workers_of(server)
    assert len(pids) == 2
    server.kill9()
    wait_until(lambda: not any(alive(pid) for pid in pids), 10, "a worker outlived the daemon")
    # The port is free again: a new daemon on it starts.
    server.start()
    try:
        assert len(workers_of(server)) == 2
    finally:
        server.stop()
