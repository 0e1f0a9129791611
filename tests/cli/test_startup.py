"""Start-up stays light: `--help` and `projects list` import only what they use.

Checked through `sys.modules` after a real run, not with timings: bench/cli_startup.py
measures those.
"""

from __future__ import annotations

import subprocess
import sys

import httpx

from hostctl.exit_codes import ExitCode
from tests.support import register, tls

PROBE = """
import sys
sys.argv = ["hostctl", *sys.argv[1:]]
from hostctl.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
heavy = ("httpx", "httpcore", "rich", "keyring", "httpx_sse", "rich.live", "hostctl.top")
loaded = ",".join(m for m in heavy if m in sys.modules)
print(f"EXIT:{code} LOADED:{loaded}", file=sys.stderr)
"""


def loaded_modules(*args: str, env: dict[str, str], exit_code: int = 0) -> set[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    marker = next(line for line in result.stderr.splitlines() if line.startswith("EXIT:"))
    code, loaded = marker.removeprefix("EXIT:").split(" LOADED:")
    assert int(code) == exit_code, result.stderr
    return set(filter(None, loaded.split(",")))


def test_help_imports_no_http_ui_or_keyring(tmp_path):
    env = {"HOSTCTL_CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    assert loaded_modules("--help", env=env) == set()
    assert loaded_modules("projects", "list", "--help", env=env) == set()
    assert loaded_modules("env", "set", "--help", env=env) == set()


def test_projects_list_skips_httpx_keyring_and_streaming_with_an_env_token(tmp_path, hostd):
    """A one-shot request to a plain http:// daemon goes through http.client, not httpx."""
    with httpx.Client(base_url=hostd.url, verify=tls()) as http:
        token, _ = register(http)
    env = {"HOSTCTL_CONFIG_DIR": str(tmp_path), "HOSTCTL_TOKEN": token,
           "HOSTCTL_API_URL": hostd.url, "PATH": "/usr/bin:/bin"}
    assert loaded_modules("projects", "list", env=env) == {"rich"}
    assert loaded_modules("projects", "list", "--json", env=env) == set()
    # Daemon down: the error line needs rich's console, still no httpx.
    env["HOSTCTL_API_URL"] = "http://127.0.0.1:9"
    assert loaded_modules("projects", "list", env=env, exit_code=ExitCode.UNREACHABLE) == {"rich"}
