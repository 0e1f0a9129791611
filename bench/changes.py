"""Changes benchmark: failed requests while a running app changes. Prints numbers.

    .venv/bin/python bench/changes.py [--rounds 1]

A real hostd subprocess on the real engine (warm base images), one nodejs app (no
dependencies) and a steady client through the router, a GET every 10 ms, during each of:
a redeploy of a new commit, a config change, a restart, a rollback, and a deploy whose app
exits with code 3. Prints, per change: requests sent, failed, how often the body changed,
and how long the change took. bench/README.md sets them beside the failures issue #13 measured
before the change (a GET every 10 ms too). Bounded: a deploy gives up after 240 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.deploy.test_zero_downtime import (
    EXITS_AT_START,
    SteadyClient,
    commit,
    deployed,
    first_release,
)
from tests.plugins.engine import own_daemon
from tests.support import HostdServer, logged_in


def measure(server: HostdServer, project: dict, name: str, change: Callable[[], None]) -> None:
    with SteadyClient(server, project).running() as steady:
        time.sleep(0.5)
        started = time.monotonic()
        change()
        took = time.monotonic() - started
        time.sleep(0.5)
    failed = len(steady.failures())
    print(f"{name:<28} {len(steady.results):>6} {failed:>7} {len(steady.bodies()) - 1:>8} "
          f"{took:>7.1f}")


def one_round(server: HostdServer, api: httpx.Client, root: Path, index: int) -> None:
    project, repo = first_release(api, root, f"changes{index}")
    pid = project["id"]

    def redeploy() -> None:
        assert api.post(f"/api/projects/{pid}/deploy").status_code == 202
        deployed(api, pid)

    commit(repo, {"VERSION": "v2"})
    measure(server, project, "redeploy of a new commit", redeploy)
    measure(server, project, "config change (PATCH env)", lambda: api.patch(
        f"/api/projects/{pid}/env", json={"env": {"GREETING": "-hi"}}).raise_for_status())
    measure(server, project, "restart", lambda: api.post(
        f"/api/containers/{pid}/restart").raise_for_status())
    measure(server, project, "rollback", lambda: api.post(
        f"/api/projects/{pid}/rollback", json={}).raise_for_status())
    commit(repo, {"server.js": EXITS_AT_START, "VERSION": "v3"})
    measure(server, project, "deploy whose app exits (3)", redeploy)
    status = api.get(f"/api/projects/{pid}").json()["project"]["status"]
    print(f"  after the failed deploy the project is {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostd-bench-changes-") as tmp, \
            own_daemon(docker.from_env(), Path(tmp) / "data") as server, \
            logged_in(server, timeout=120) as api:
        print(f"{'change':<28} {'sent':>6} {'failed':>7} {'switches':>8} {'took s':>7}")
        for index in range(min(args.rounds, 5)):
            one_round(server, api, Path(tmp), index)

if __name__ == "__main__":
    main()
