from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    FRONTEND_URL,
    HASH_LEAK,
    MAX_BODY_BYTES,
    HostdServer,
    client_for,
    register,
)

# The real-engine fixtures (engine, docker_client, base_images), the `docker` mark on
# every test that uses them, and the removal of what the session made on the engine.
# `--db postgres`: every daemon on a PostgreSQL database of its own (tests/plugins/postgres.py).
# The `browser` and `page` fixtures (tests/plugins/browser.py): Debian's Chromium, headless.
pytest_plugins = ["tests.plugins.engine", "tests.plugins.postgres", "tests.plugins.browser"]

# Examples schemathesis makes for each operation (tests/harden/fuzzing.py): a few in
# `make test`, many more in `make fuzz`, which CI runs too.
FUZZ_EXAMPLES = 8


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-examples", type=int, default=FUZZ_EXAMPLES,
                     help="examples per API operation in tests/harden/test_fuzz.py")


@pytest.fixture(scope="session")
def hostd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    """One real daemon for the session, with its own data dir and SQLite file."""
    server = HostdServer(data_dir=tmp_path_factory.mktemp("hostd-data"),
                         env_overrides={"HOSTD_ROUTER_WORKERS": "2"}).start()
    yield server
    server.stop()
    # After every test has used it: no password hash and no JWT ever reached its log.
    logs = server.logs()
    assert not HASH_LEAK.search(logs), "a password hash reached the log"
    assert "eyJ" not in logs, "a JWT reached the log"
    from tests.plugins import postgres  # imported by pytest_plugins, after this module

    db_password = postgres.password()
    assert db_password is None or db_password not in logs, "the database password was logged"
    assert " 500 " not in logs and "unhandled error" not in logs, "a request crashed: see the log"


@pytest.fixture(scope="session")
def configured_hostd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    """A daemon set as a user might: a web frontend allowed (FRONTEND_URL), a 2 KiB body
    limit, and local repositories refused as by default (the session daemon allows them).
    Its log is quiet: only the tests that use it write there."""
    server = HostdServer(data_dir=tmp_path_factory.mktemp("configured-data"), env_overrides={
        "FRONTEND_URL": FRONTEND_URL, "HOSTD_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "HOSTD_ALLOW_LOCAL_REPOS": "false"}).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_hostd(tmp_path: Path) -> Iterator[HostdServer]:
    """A daemon of the test's own, for tests that restart or kill it."""
    server = HostdServer(data_dir=tmp_path / "data").start()
    yield server
    server.kill9()


@pytest.fixture
def make_hostd(tmp_path: Path) -> Iterator[Callable[..., HostdServer]]:
    """Start daemons of the test's own with extra environment: `make_hostd(FRONTEND_URL=…)`."""
    servers: list[HostdServer] = []

    def start(**env: str) -> HostdServer:
        server = HostdServer(data_dir=tmp_path / f"data-{len(servers)}", env_overrides=env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.kill9()


@pytest.fixture
def client(hostd: HostdServer) -> Iterator[httpx.Client]:
    with client_for(hostd) as c:
        yield c


@pytest.fixture
def user(client: httpx.Client) -> dict:
    """A registered user: {"token", "user", "headers"}."""
    token, data = register(client)
    return {"token": token, "user": data, "headers": {"Authorization": f"Bearer {token}"}}


@pytest.fixture
def other_user(client: httpx.Client) -> dict:
    """A second registered user, for tenant isolation."""
    token, data = register(client)
    return {"token": token, "user": data, "headers": {"Authorization": f"Bearer {token}"}}
