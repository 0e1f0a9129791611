"""hostctl tests: a live hostd (from tests/conftest.py), a private config dir, a test keyring."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from typer.testing import CliRunner

from hostctl.cli import app
from tests.cli.memory_keyring import MemoryKeyring
from tests.support import HostdServer, unique_email

PASSWORD = "s3cret-pass"
HOSTCTL_ENV = ("HOSTCTL_TOKEN", "HOSTCTL_API_URL", "HOSTCTL_CONFIG_DIR", "XDG_CONFIG_HOME")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test: its own config dir and an in-memory keyring, so nothing real is touched."""
    for name in HOSTCTL_ENV:
        monkeypatch.delenv(name, raising=False)
    # Output is piped unless a test says otherwise (pytest-xdist's workers set COLUMNS=80).
    for name in ("COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "hostctl-config"
    monkeypatch.setenv("HOSTCTL_CONFIG_DIR", str(config))
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield config
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> None:
    """A headless machine: the fail backend, as keyring picks when nothing else exists."""
    keyring.set_keyring(fail.Keyring())


class Hostctl:
    """Runs hostctl in-process against one daemon, as a user would type it."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None):
        merged = {"HOSTCTL_API_URL": self.api_url, **(env or {})}
        return self.runner.invoke(app, list(args), input=input, env=merged)

    def register(self, email: str | None = None, name: str = "Alice") -> str:
        email = email or unique_email("cli")
        result = self("register", "--email", email, "--name", name, "--password-stdin",
                      input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output + result.stderr
        return email


@pytest.fixture
def hostctl(hostd: HostdServer) -> Hostctl:
    return Hostctl(hostd.url)


@pytest.fixture
def logged_in(hostctl: Hostctl) -> Hostctl:
    hostctl.register()
    return hostctl


def run_process(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    """hostctl as a real process (for start-up and daemon-down behaviour)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")}
    base["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # never the real keyring
    return subprocess.run(
        [sys.executable, "-c", "from hostctl.cli import main; main()", *args],
        env={**base, **env}, input=stdin, capture_output=True, text=True, timeout=60,
    )
