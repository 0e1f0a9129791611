from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import HostdServer, register


@pytest.fixture(scope="session")
def hostd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    """One real daemon for the session, with its own data dir and SQLite file."""
    server = HostdServer(data_dir=tmp_path_factory.mktemp("hostd-data")).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_hostd(tmp_path: Path) -> Iterator[HostdServer]:
    """A daemon of the test's own, for tests that restart or kill it."""
    server = HostdServer(data_dir=tmp_path / "data").start()
    yield server
    server.kill9()


@pytest.fixture
def client(hostd: HostdServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hostd.url, timeout=30.0) as c:
        yield c


@pytest.fixture
def user(client: httpx.Client) -> dict:
    """A registered user: {"token", "user", "headers"}."""
    token, data = register(client)
    return {"token": token, "user": data, "headers": {"Authorization": f"Bearer {token}"}}
