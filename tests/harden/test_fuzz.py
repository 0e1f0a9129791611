"""Schemathesis against the daemon's own OpenAPI document: no 5xx, and every status,
content type, header and body as documented. Bounded: a few examples per operation in
`make test`, more in `make fuzz` (pytest's `--fuzz-examples`).

The daemon under test is the real one on FakeRuntime (tests/fakes): what is fuzzed is
the HTTP API, not the engine, so it runs in the unit tier. Every repository URL the
fuzzer makes valid is swapped for a local path that does not exist, so deploys fail at
their clone: nothing is fetched from the network. The fuzzing itself is in
tests/harden/fuzzing.py, imported by the tests that use it.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hostd.logs import FORMAT, LineFormatter
from tests.fakes.daemon import FakeDaemon, fake_daemon
from tests.support import HASH_LEAK, auth, register, unique_email

# Seconds of fuzzing, all CPU: in `make test` (and at length in `make fuzz`), not in the
# quick `make unit`.
pytestmark = pytest.mark.slow

if TYPE_CHECKING:
    from tests.harden.fuzzing import Caller

# What `hostd serve` logs (its own loggers and uvicorn's), captured as its stderr would be.
LOGGERS = ("hostd", "uvicorn")


@pytest.fixture(scope="module")
def fuzz_hostd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDaemon]:
    log = io.StringIO()
    # The limits on, at their defaults: a fuzzed 429 must match the document too.
    limits: dict[str, Any] = {"HOSTD_LOGIN_FAILS_PER_EMAIL": 10,
                              "HOSTD_LOGIN_FAILS_PER_ADDRESS": 100,
                              "HOSTD_REGISTRATIONS_PER_ADDRESS": 60}
    with _logged_to(log), fake_daemon(Path(tmp_path_factory.mktemp("fuzz")),
                                      HOSTD_CLONE_TIMEOUT=5, **limits) as daemon:
        yield daemon
    logs = log.getvalue()
    assert " 500 " not in logs and "unhandled error" not in logs, logs[-3000:]
    assert " 200 " in logs  # the access log was captured: the checks above mean something
    # Hundreds of fuzzed requests carried the token and passwords: none reached the log.
    assert not HASH_LEAK.search(logs) and "eyJ" not in logs and "s3cret-pass" not in logs


@contextlib.contextmanager
def _logged_to(stream: io.StringIO) -> Iterator[None]:
    """The daemon's loggers at INFO (the access log's level), written to `stream` too."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LineFormatter(FORMAT))
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


@pytest.fixture(scope="module")
def caller(fuzz_hostd: FakeDaemon) -> Caller:
    from tests.harden.fuzzing import NOWHERE, Caller

    with fuzz_hostd.client() as client:
        email = unique_email("fuzz")
        token, _ = register(client, email=email)
        resp = client.post("/api/projects", headers=auth(token), json={
            "name": "fuzzed", "github_url": NOWHERE, "template": "static"})
        assert resp.status_code == 201, resp.text
    return Caller(email, token, resp.json()["project"]["id"])


# One test walks every operation the document lists (a new route is fuzzed without
# touching this file). Schemathesis' own pytest plugin (`from_fixture`) is not used:
# it breaks on pytest 9, and pyproject.toml keeps it from loading.
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_the_api_matches_its_document(fuzz_hostd: FakeDaemon, caller: Caller, mode: str,
                                      request: pytest.FixtureRequest) -> None:
    from tests.harden.fuzzing import fuzz_every_operation

    examples = request.config.getoption("--fuzz-examples")
    failures = fuzz_every_operation(fuzz_hostd.url, caller, mode, examples)
    assert not failures, "\n\n".join(failures)


def test_the_document_has_no_422_and_documents_retry_after(fuzz_hostd: FakeDaemon) -> None:
    with fuzz_hostd.client() as client:
        spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)
            if "429" in operation["responses"]:
                assert "Retry-After" in operation["responses"]["429"]["headers"]
