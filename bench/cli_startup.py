"""Cold start of `hostctl --help` and `hostctl projects list`: median and p90 of N processes.

`projects list` runs against a real hostd started here (its own data dir, loopback port)
with a logged-in user, so the time includes the one HTTP request and the table.
Usage: .venv/bin/python bench/cli_startup.py [runs]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from tests.support import HostdServer, register, tls

HOSTCTL = [sys.executable, "-c", "from hostctl.cli import main; main()"]


def child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_runs(
    command: list[str], env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user+sys) milliseconds per run; CPU time shows through machine load."""
    wall, cpu = [], []
    for _ in range(runs):
        cpu_before, start = child_cpu_s(), time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, check=False)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((child_cpu_s() - cpu_before) * 1000)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {result.stderr.decode()}")
    return wall, cpu


def p90(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.9 * len(ordered)) - 1)]


def report(label: str, timings: tuple[list[float], list[float]]) -> None:
    wall, cpu = timings
    print(f"{label:<24} wall median {statistics.median(wall):6.1f} ms  p90 {p90(wall):6.1f} ms"
          f"   cpu median {statistics.median(cpu):6.1f} ms   (n={len(wall)})")


def main(runs: int = 10) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = HostdServer(data_dir=Path(tmp) / "data").start()
        try:
            with httpx.Client(base_url=server.url, verify=tls()) as http:
                token, _ = register(http)
                http.post("/api/projects", headers={"Authorization": f"Bearer {token}"},
                          json={"name": "shop", "github_url": "https://github.com/a/shop",
                                "template": "static"})
            env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")}
            # An installed hostctl has its bytecode compiled (pip does it at install); with
            # this set, as in some dev shells, the warm-up writes none and every timed run
            # compiles hostctl from source (5-10 ms).
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env.update({"HOSTCTL_CONFIG_DIR": str(Path(tmp) / "cfg"),
                        "HOSTCTL_API_URL": server.url, "HOSTCTL_TOKEN": token})
            for warm_up in (["--help"], ["projects", "list"]):  # the bytecode cache
                time_runs([*HOSTCTL, *warm_up], env, 2)
            report("hostctl --help", time_runs([*HOSTCTL, "--help"], env, runs))
            report("hostctl projects list", time_runs([*HOSTCTL, "projects", "list"], env, runs))
            report("python -c pass (floor)", time_runs([sys.executable, "-c", "pass"], env, runs))
        finally:
            server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
