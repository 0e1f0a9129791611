"""A real hostd daemon on FakeRuntime: the control plane's branches in the unit tier.

The daemon is the real one (its app, services, SQLite file, data dir, deploy workers,
supervisor, reconciler, engine monitor and router) served by a real uvicorn on a loopback
port, in this process, so a test drives it over HTTP and injects faults into its engine
(`daemon.fake`) between requests. Only the engine is in memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from hostd.app import create_app
from hostd.cli import GRACEFUL_SHUTDOWN_S
from hostd.config import Settings
from hostd.services import Services
from tests.fakes.runtime import FakeRuntime
from tests.support import assert_no_hash, free_port, register, tls

START_TIMEOUT_S = 30.0
# What a test daemon needs (as tests.support.HostdServer sets them), and short waits:
# nothing in memory takes long, so a missed event shows as a failure in seconds.
DEFAULTS: dict[str, Any] = {
    "BCRYPT_ROUNDS": 4, "HOSTD_ALLOW_LOCAL_REPOS": True, "HOSTD_LOCAL_REPOS_ROOT": "/",
    "HOSTD_ROUTER_WORKERS": 1, "HOSTD_LOGIN_FAILS_PER_EMAIL": 0,
    "HOSTD_LOGIN_FAILS_PER_ADDRESS": 0, "HOSTD_REGISTRATIONS_PER_ADDRESS": 0,
    "HOSTD_HEALTH_TIMEOUT": 3, "HOSTD_DRAIN_SECONDS": 0, "HOSTD_DRAIN_TIMEOUT": 1,
}


@dataclass
class FakeDaemon:
    url: str
    fake: FakeRuntime
    services: Services
    data_dir: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, verify=tls(),
                            event_hooks={"response": [assert_no_hash]})

    @contextlib.contextmanager
    def logged_in(self) -> Iterator[httpx.Client]:
        """A client registered as a new user, its token on every request."""
        with self.client() as client:
            token, _ = register(client)
            client.headers["Authorization"] = f"Bearer {token}"
            yield client


@contextlib.contextmanager
def fake_daemon(data_dir: Path, fake: FakeRuntime | None = None,
                **settings: Any) -> Iterator[FakeDaemon]:
    """hostd on `fake` (a new FakeRuntime by default) until the block ends; `settings` by
    their environment names (HOSTD_DRAIN_SECONDS=…) over DEFAULTS. Pass the same `fake`
    and `data_dir` again for the daemon's next start."""
    fake = fake if fake is not None else FakeRuntime()
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {**DEFAULTS, "HOSTD_DATA_DIR": str(data_dir), "PORT": port,
              "HOSTD_ROUTER_PORT": free_port(), **settings}
    values.setdefault("HOSTD_INSTANCE", f"fake-{uuid.uuid4().hex[:8]}")
    app = create_app(Settings(_env_file=None, **values), lambda _: fake)
    # As `hostd serve`: open event streams and followed logs (a browser's) end the stop
    # after a bound instead of holding it until the clients hang up.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on",
                                           timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S))
    thread = threading.Thread(target=server.run, name="fake-daemon", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        yield FakeDaemon(f"http://127.0.0.1:{port}", fake, app.state.services, data_dir)
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive(), "the daemon stopped while starting (see the log above)"
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.01)
