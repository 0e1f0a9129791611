"""kill -9 during 50 concurrent project creations while deploys run: after a restart
every acknowledged project exists, none is stuck `deploying`, no labelled container is
left without its project, and SQLite passes its integrity check (with --db postgres: the
daemon's PostgreSQL database answers at the latest schema version)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import httpx
from sqlalchemy import text

from hostd.store import db
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, auth, register, tls

CREATES = 50
KILL_AFTER_ACKS = 12
SITE = {"index.html": "<h1>crash</h1>\n"}


def integrity(server: HostdServer) -> str:
    if server.database_url is None:
        with sqlite3.connect(server.data_dir / "hostd.db") as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]
    # PostgreSQL's own crash safety is the server's; what is the daemon's is its schema.
    engine = db.make_engine(server.database_url, threads=1)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    finally:
        engine.dispose()
    return "ok" if version == len(db.MIGRATIONS) else f"schema version {version}"


def create_all(server: HostdServer, token: str, url: str) -> list[dict]:
    """50 creates at once; the daemon is killed as the 12th 201 arrives."""
    acked: list[dict] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CREATES)

    def create(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30, headers=auth(token),
                          verify=tls()) as client:
            barrier.wait(timeout=30)
            try:
                resp = client.post("/api/projects", json={
                    "name": f"crash-{i}", "github_url": url, "template": "static"})
            except httpx.TransportError:
                return  # cut off by the kill: never acknowledged
        if resp.status_code == 201:
            with lock:
                acked.append(resp.json()["project"])
                if len(acked) == KILL_AFTER_ACKS:
                    server.kill9()

    with ThreadPoolExecutor(CREATES) as pool:
        list(pool.map(create, range(CREATES)))
    server.kill9()  # in case fewer than KILL_AFTER_ACKS got through
    return acked


def wait_no_orphans(engine: docker.DockerClient, instance: str, client: httpx.Client,
                    timeout: float = 60) -> None:
    """Every labelled container belongs to a live project, and runs only if it is running."""
    deadline = time.monotonic() + timeout
    while True:
        projects = {p["id"]: p for p in client.get("/api/projects").json()["projects"]}
        containers = engine.containers.list(
            all=True, filters={"label": f"hostd.instance={instance}"})
        problems = [
            (c.name, c.status) for c in containers
            if c.labels.get("hostd.project") not in projects
            or (c.status == "running"
                and projects[c.labels["hostd.project"]]["status"] != "running")
        ]
        if not problems:
            return
        assert time.monotonic() < deadline, f"orphaned containers: {problems}"
        time.sleep(0.5)


def test_kill9_during_concurrent_creates_and_deploys(
        engine: docker.DockerClient, base_images: None,
        repo: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    # One user's 50 creates: room for all of them in the queue and the quotas (the
    # per-user caps are tests/control/test_fair_deploys.py's and tests/test_quotas.py's
    # subject, not this test's).
    with own_daemon(engine, tmp_path / "data", HOSTD_MAX_QUEUED_DEPLOYS=str(CREATES),
                    HOSTD_MAX_PROJECTS_PER_USER="0", HOSTD_MAX_MEMORY_MB_PER_USER="0") as server:
        with httpx.Client(base_url=server.url, timeout=30, verify=tls()) as client:
            token, _ = register(client)
        acked = create_all(server, token, repo(SITE))
        assert len(acked) >= KILL_AFTER_ACKS
        assert integrity(server) == "ok"

        server.start()
        with httpx.Client(base_url=server.url, timeout=30, headers=auth(token),
                          verify=tls()) as client:
            after = {p["id"]: p for p in client.get("/api/projects").json()["projects"]}
            missing = [p["name"] for p in acked if p["id"] not in after]
            assert not missing, f"acknowledged but lost: {missing}"
            stuck = [p["name"] for p in after.values() if p["status"] == "deploying"]
            assert not stuck, f"still deploying after the restart: {stuck}"
            assert {p["status"] for p in after.values()} <= {"running", "error"}
            cut = [p for p in after.values() if "interrupted" in (p["status_reason"] or "")]
            assert cut, "the kill came after every deploy had finished: nothing was tested"
            print(f"acknowledged {len(acked)}/{CREATES}, stored {len(after)}, "
                  f"interrupted {len(cut)}")
            wait_no_orphans(engine, server.instance, client)
        server.stop()
        assert integrity(server) == "ok"
