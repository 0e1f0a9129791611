"""hostctl tests: a live hostd (from tests/conftest.py), a private config dir, a test keyring;
and a fake hostd (httpx.MockTransport) for commands that need no daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import keyring
import pytest
from keyring.backends import fail
from typer.testing import CliRunner

from hostctl.cli import app
from hostctl.client import HostdClient
from hostctl.context import AppContext
from tests.cli.memory_keyring import MemoryKeyring
from tests.support import HostdServer, unique_email

PASSWORD = "s3cret-pass"
FAKE_URL = "http://hostd.test"
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


# --- a fake hostd: answers set per test, through httpx.MockTransport ----------------------


class FakeHostd:
    """Answers the project list and whatever a test puts in `answers`; a 404 otherwise."""

    def __init__(self, projects: list[dict]) -> None:
        self.projects = projects
        self.answers: dict[tuple[str, str], httpx.Response] = {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path)
        if key == ("GET", "/api/projects"):
            return httpx.Response(200, json={"projects": self.projects})
        if key in self.answers:
            return self.answers[key]
        return error(404, "NotFound", "No route")

    def sent(self) -> list[tuple[str, str, object]]:
        return [(r.method, r.url.path, json.loads(r.content) if r.content else None)
                for r in self.requests]


def error(status: int, name: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": name, "message": message, "statusCode": status})


def serve_fake(monkeypatch: pytest.MonkeyPatch, hostd: FakeHostd) -> FakeHostd:
    """Every command of this test talks to `hostd`, logged in."""

    def client(self: AppContext, *, authenticated: bool = True) -> HostdClient:
        made = HostdClient(FAKE_URL, "token", transport=httpx.MockTransport(hostd))
        self._clients.append(made)
        return made

    monkeypatch.setattr(AppContext, "client", client)
    return hostd


@pytest.fixture
def cli() -> Hostctl:
    """hostctl pointed at the fake hostd (use with a fixture that calls serve_fake)."""
    return Hostctl(FAKE_URL)
