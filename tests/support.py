"""A real hostd in a subprocess on free loopback ports, with its own data directory."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT_S = 30.0
# Every daemon a test session starts labels its containers `hostd.instance=<prefix>-…`.
SESSION_PREFIX = f"test-{uuid.uuid4().hex[:8]}"


# What tests/conftest.py's configured_hostd is set to.
FRONTEND_URL = "http://localhost:5173"
MAX_BODY_BYTES = 2048

# Data dirs of the session's daemons: their build-stage records name untagged images
# (removed at the end by tests/plugins/engine.py).
SESSION_DATA_DIRS: set[Path] = set()
# Labels of daemons that chose their own (`own_instance`), removed at the end likewise.
SESSION_INSTANCES: set[str] = set()
INSTANCE_FILE = "instance-id"  # hostd.config.INSTANCE_FILE_NAME


# Ports are picked below the kernel's ephemeral range (32768 and up by default): a port
# bound to 0 comes from that range, where the kernel may hand the same one out again, to
# the next pick or to any outgoing connection, before the daemon binds it.
_PORT_RANGE = (20000, 32000)
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing holds now and this process has not handed out before."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(*_PORT_RANGE)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {_PORT_RANGE}")


def tls() -> ssl.SSLContext:
    """What every test client passes as `verify`. Test URLs are plain http on loopback, and
    httpx otherwise parses the CA bundle for each client, about 50 ms of CPU: the suite's
    polling loops spent more on that than on what they tested. This context trusts no CA,
    so should it ever be used it fails closed."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@dataclass
class HostdServer:
    """Each server has its own HOSTD_INSTANCE label: its reconciler must never take
    another daemon's containers (another test's, or a developer's own) for orphans.

    With `own_instance` it gets no HOSTD_INSTANCE, as an operator's daemon by default:
    it labels with its install's id (`<data_dir>/instance-id`), which `instance` is set to
    once it has started, and the session's cleanup knows it by."""

    data_dir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    instance: str = field(default_factory=lambda: f"{SESSION_PREFIX}-{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    router_port: int = field(default_factory=free_port)
    own_instance: bool = False
    # A PostgreSQL database of its own under `pytest --db postgres` (tests/plugins/
    # postgres.py), made at the first start; None: its SQLite file in the data dir.
    database_url: str | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "hostd.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSTD_", "JWT_"))}
        env.update({
            "HOSTD_DATA_DIR": str(self.data_dir),
            "PORT": str(self.port),
            "HOSTD_ROUTER_PORT": str(self.router_port),
            "BCRYPT_ROUNDS": "4",
            "HOSTD_ALLOW_LOCAL_REPOS": "true",
            # Anywhere: tests make repositories in their tmp dirs and name missing ones
            # (file:///nonexistent/…) for deploys that fail fast. tests/test_repo_urls.py
            # checks the confinement with a root of its own.
            "HOSTD_LOCAL_REPOS_ROOT": "/",
            # The router on the API's event loop: worker processes cost a second of start-up
            # per daemon. Tests of the worker pool, and the session daemon, ask for two.
            "HOSTD_ROUTER_WORKERS": "1",
            # Abuse limits off: tests share one address and try many passwords on purpose.
            # tests/harden/test_ratelimit.py turns them on in daemons of its own.
            "HOSTD_LOGIN_FAILS_PER_EMAIL": "0",
            "HOSTD_LOGIN_FAILS_PER_ADDRESS": "0",
            "HOSTD_REGISTRATIONS_PER_ADDRESS": "0",
        })
        if not self.own_instance:
            env["HOSTD_INSTANCE"] = self.instance
        env.pop("DATABASE_URL", None)
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        env.update(self.env_overrides)
        return env

    def start(self) -> HostdServer:
        from tests.plugins import postgres

        if self.database_url is None and "DATABASE_URL" not in self.env_overrides:
            self.database_url = postgres.new_database()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        SESSION_DATA_DIRS.add(self.data_dir)
        log = self.log_path.open("ab")
        # cwd is the data dir so a developer's own .env never leaks into a test.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hostd", "serve"],
            env=self.env(), cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            self.wait_ready()
        finally:
            id_file = self.data_dir / INSTANCE_FILE
            if self.own_instance and id_file.exists():
                self.instance = id_file.read_text().strip()
            if self.instance != "default":  # an upgraded install's: maybe a developer's own
                SESSION_INSTANCES.add(self.instance)
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"hostd exited at start:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0, verify=tls()).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"hostd did not start in time:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill9(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 5.0, count: int = 1) -> re.Match[str]:
        """The `count`-th log match of `pattern`; a line can land just after its response."""
        deadline = time.monotonic() + timeout
        while True:
            matches = list(re.finditer(pattern, self.logs(), re.MULTILINE))
            if len(matches) >= count or time.monotonic() > deadline:
                assert len(matches) >= count, \
                    f"{len(matches)} of {count} log lines match {pattern!r}:\n{self.logs()[-3000:]}"
                return matches[count - 1]
            time.sleep(0.02)

    def run(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run `hostd <args>` to completion with this server's environment."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [sys.executable, "-m", "hostd", *args], env=self.env(), cwd=self.data_dir,
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def secret(self) -> str:
        """The signing secret the daemon generated and keeps in its data dir."""
        return (self.data_dir / "jwt_secret").read_text().strip()


# A bcrypt hash ($2a$/$2b$/$2y$ + cost) or the column's name must never reach a client.
HASH_LEAK = re.compile(r"\$2[aby]\$\d\d\$|password_hash")


def assert_no_hash(response: httpx.Response) -> None:
    response.read()
    assert not HASH_LEAK.search(response.text), f"password hash in {response.request.url}"


def client_for(server: HostdServer, **kwargs: Any) -> httpx.Client:
    """A client for `server` that fails the test if any response carries a password hash."""
    kwargs.setdefault("timeout", 30.0)
    return httpx.Client(base_url=server.url, event_hooks={"response": [assert_no_hash]},
                        **kwargs, verify=tls())


@contextlib.contextmanager
def logged_in(server: HostdServer, timeout: float = 60.0) -> Iterator[httpx.Client]:
    """A client of `server` registered as a new user, its token on every request."""
    with client_for(server, timeout=timeout) as client:
        token, _ = register(client)
        client.headers.update(auth(token))
        yield client


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def register(client: httpx.Client, email: str | None = None,
             password: str = "s3cret-pass",
             name: str = "Test User") -> tuple[str, dict]:
    """A new user: returns (token, user)."""
    resp = client.post("/api/auth/register",
                       json={"email": email or unique_email(), "password": password, "name": name})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return body["token"], body["user"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


DEPLOY_FIELDS = ("status", "status_reason", "metrics", "deploying", "deploy_step", "last_deploy")


def stable(project: dict) -> dict:
    """A project without what its deploy moves on its own (status, reason, metrics, step…)."""
    return {k: v for k, v in project.items() if k not in DEPLOY_FIELDS}
