"""Schemathesis against the daemon's own OpenAPI document: no 5xx, and every status,
content type, header and body as documented. Bounded: a few examples per operation.

The daemon under test uses the real engine under a label of its own. Every repository
URL the fuzzer makes valid is swapped for a local path that does not exist, so deploys
fail at their clone: nothing is fetched from the network and nothing is built. The fuzzing
itself is in tests/harden/fuzzing.py, imported by the tests that use it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import docker
import pytest

from tests.plugins.engine import remove_instance_objects
from tests.support import HASH_LEAK, HostdServer, auth, client_for, register, unique_email

if TYPE_CHECKING:
    from tests.harden.fuzzing import Caller

@pytest.fixture(scope="module")
def fuzz_hostd(engine: docker.DockerClient,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostdServer]:
    instance = f"test-{uuid.uuid4().hex[:12]}"
    server = HostdServer(data_dir=tmp_path_factory.mktemp("fuzz"), env_overrides={
        "HOSTD_INSTANCE": instance, "HOSTD_CLONE_TIMEOUT": "5",
        # The limits on, at their defaults: a fuzzed 429 must match the document too.
        "HOSTD_LOGIN_FAILS_PER_EMAIL": "10", "HOSTD_LOGIN_FAILS_PER_ADDRESS": "100",
        "HOSTD_REGISTRATIONS_PER_ADDRESS": "60",
    }).start()
    yield server
    server.stop()
    remove_instance_objects(engine, instance)
    logs = server.logs()
    assert "unhandled error" not in logs and " 500 " not in logs, logs[-3000:]
    # Hundreds of fuzzed requests carried the token and passwords: none reached the log.
    assert not HASH_LEAK.search(logs) and "eyJ" not in logs and "s3cret-pass" not in logs


@pytest.fixture(scope="module")
def caller(fuzz_hostd: HostdServer) -> Caller:
    from tests.harden.fuzzing import NOWHERE, Caller

    with client_for(fuzz_hostd) as client:
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
def test_the_api_matches_its_document(fuzz_hostd: HostdServer, caller: Caller,
                                      mode: str) -> None:
    from tests.harden.fuzzing import fuzz_every_operation

    failures = fuzz_every_operation(fuzz_hostd.url, caller, mode)
    assert not failures, "\n\n".join(failures)


def test_the_document_has_no_422_and_documents_retry_after(fuzz_hostd: HostdServer) -> None:
    with client_for(fuzz_hostd) as client:
        spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)
            if "429" in operation["responses"]:
                assert "Retry-After" in operation["responses"]["429"]["headers"]


