"""Start-up stays light: `--help` and `projects list` import only what they use."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
sys.argv = ["hostctl", *sys.argv[1:]]
from hostctl.cli import main
try:
    main()
except SystemExit:
    pass
heavy = ("httpx", "rich", "keyring", "httpx_sse", "rich.live", "hostctl.top")
print("LOADED:" + ",".join(m for m in heavy if m in sys.modules), file=sys.stderr)
"""


def loaded_modules(*args: str, env: dict[str, str]) -> set[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    marker = next(line for line in result.stderr.splitlines() if line.startswith("LOADED:"))
    return set(filter(None, marker.removeprefix("LOADED:").split(",")))


def test_help_imports_no_http_ui_or_keyring(tmp_path):
    env = {"HOSTCTL_CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    assert loaded_modules("--help", env=env) == set()
    assert loaded_modules("projects", "list", "--help", env=env) == set()


def test_projects_list_skips_keyring_and_streaming_with_an_env_token(tmp_path):
    env = {"HOSTCTL_CONFIG_DIR": str(tmp_path), "HOSTCTL_TOKEN": "t",
           "HOSTCTL_API_URL": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    assert loaded_modules("projects", "list", env=env) == {"httpx", "rich"}
