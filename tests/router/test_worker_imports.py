"""A router worker process loads the data plane only: no docker SDK, no web framework,
no control plane (each of up to 8 workers would otherwise carry them)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("docker", "requests", "fastapi", "starlette", "httpx", "hostd.engine",
             "hostd.control", "hostd.api")


def test_the_worker_entry_point_imports_no_control_plane() -> None:
    script = ("import json, sys, hostd.router.worker; "
              "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=60)
    loaded = json.loads(done.stdout)
    leaked = [name for name in loaded if name.split(".")[0] in FORBIDDEN
              or any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert leaked == []
