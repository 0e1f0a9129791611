"""A real daemon for the contract suite, reached over HTTP only.

With CONTRACT_URL set (e.g. http://127.0.0.1:3000) the suite checks that server instead,
as a client of the seed's API would see it (CONTRACT_REPO: the github_url its projects
are made with). Otherwise it starts hostd with its default settings, but for two that make
it fast and keep it on this machine: bcrypt's cost, and local repositories under a root
of the suite's own, where the projects' repositories do not exist (each deploy fails at
its clone, in milliseconds, without the engine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import HostdServer


@dataclass(frozen=True)
class Target:
    url: str
    repo: str  # the github_url of the projects the suite makes
    own: HostdServer | None  # None: a server the suite did not start


def _defaults_but(root: Path) -> dict[str, str]:
    """hostd's defaults where the test harness sets others (tests/support.py)."""
    return {
        "HOSTD_LOCAL_REPOS_ROOT": str(root), "HOSTD_ALLOW_LOCAL_REPOS": "true",
        "HOSTD_LOGIN_FAILS_PER_EMAIL": "10", "HOSTD_LOGIN_FAILS_PER_ADDRESS": "100",
        "HOSTD_REGISTRATIONS_PER_ADDRESS": "60",
    }


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if os.environ.get("CONTRACT_URL"):
        yield Target(os.environ["CONTRACT_URL"].rstrip("/"),
                     os.environ.get("CONTRACT_REPO", "https://github.com/example/site"), None)
        return
    root = tmp_path_factory.mktemp("contract-repos")
    server = HostdServer(data_dir=tmp_path_factory.mktemp("contract-data"),
                         env_overrides=_defaults_but(root)).start()
    yield Target(server.url, f"file://{root}/missing.git", server)
    server.stop()
    log = server.logs()
    assert " 500 " not in log and "unhandled error" not in log, "a request crashed"


@pytest.fixture(scope="session")
def short_lived(tmp_path_factory: pytest.TempPathFactory,
                target: Target) -> Iterator[Target]:
    """A second daemon whose tokens live one second (JWT_EXPIRES_IN=1s)."""
    if target.own is None:
        pytest.skip("TokenExpired needs a daemon with JWT_EXPIRES_IN=1s: only one started here")
    root = tmp_path_factory.mktemp("contract-repos-short")
    server = HostdServer(data_dir=tmp_path_factory.mktemp("contract-short"),
                         env_overrides={**_defaults_but(root), "JWT_EXPIRES_IN": "1s"}).start()
    yield Target(server.url, f"file://{root}/missing.git", server)
    server.stop()
