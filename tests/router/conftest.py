"""Fixtures for the data-plane tests on the real engine.

The engine and base-image fixtures are the deploy tests' own. The daemon here is a
separate one, with its own instance label (removed with everything carrying it at the
end of the module) and a 1 s metrics interval so the tests wait less.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.plugins.engine import own_daemon
from tests.support import HostdServer, auth, register, tls

METRICS_INTERVAL_S = 1.0


@pytest.fixture(scope="module")
def router_hostd(engine: docker.DockerClient, base_images: object,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    # Worker processes whatever this machine's core count; test_modes.py covers 1.
    with own_daemon(engine, tmp_path_factory.mktemp("router-data"),
                    HOSTD_METRICS_INTERVAL=str(METRICS_INTERVAL_S),
                    HOSTD_ROUTER_WORKERS="2") as server:
        yield server


def logged_in(server: HostdServer) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=60.0, verify=tls())
    token, user = register(client)
    client.headers.update(auth(token))
    client.user = user  # type: ignore[attr-defined]
    client.token = token  # type: ignore[attr-defined]
    return client


@pytest.fixture(scope="module")
def alice(router_hostd: HostdServer) -> Iterator[httpx.Client]:
    client = logged_in(router_hostd)
    yield client
    client.close()


@pytest.fixture(scope="module")
def bob(router_hostd: HostdServer) -> Iterator[httpx.Client]:
    client = logged_in(router_hostd)
    yield client
    client.close()
