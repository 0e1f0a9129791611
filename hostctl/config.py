"""Where hostctl keeps its files, and which API URL it talks to.

Config dir: HOSTCTL_CONFIG_DIR → $XDG_CONFIG_HOME/hostctl → ~/.config/hostctl (mode 0700).
API URL: --api-url → HOSTCTL_API_URL → `api_url` in config.toml → http://127.0.0.1:3000.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_API_URL = "http://127.0.0.1:3000"
CONFIG_FILE_NAME = "config.toml"


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    if explicit := environ.get("HOSTCTL_CONFIG_DIR"):
        return Path(explicit)
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hostctl"


def ensure_private_dir(path: Path) -> Path:
    """Create the directory 0700; tighten it if it already exists (it holds tokens)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def read_config_file(directory: Path) -> dict[str, object]:
    path = directory / CONFIG_FILE_NAME
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return {}
    import tomllib  # only when there is a file to parse (~2 ms)

    with handle:
        return tomllib.load(handle)


def resolve_api_url(
    flag: str | None, directory: Path, environ: Mapping[str, str] = os.environ
) -> str:
    url = flag or environ.get("HOSTCTL_API_URL") or read_config_file(directory).get("api_url")
    return str(url or DEFAULT_API_URL).rstrip("/")
