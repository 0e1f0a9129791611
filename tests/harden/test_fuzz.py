"""Schemathesis against the daemon's own OpenAPI document: no 5xx, and every status,
content type, header and body as documented. Bounded: a few examples per operation.

The daemon under test uses the real engine under a label of its own. Every repository
URL the fuzzer makes valid is swapped for a local path that does not exist, so deploys
fail at their clone: nothing is fetched from the network and nothing is built.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hostd.store.validation import check_repo_url
from tests.plugins.engine import remove_instance_objects
from tests.support import HASH_LEAK, HostdServer, auth, client_for, register, unique_email

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
NOWHERE = "file:///nonexistent/fuzzed.git"
PASSWORD = "s3cret-pass"  # tests.support.register's


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
    assert not HASH_LEAK.search(logs) and "eyJ" not in logs and PASSWORD not in logs


@dataclass
class Caller:
    email: str
    token: str
    project_id: str


@pytest.fixture(scope="module")
def caller(fuzz_hostd: HostdServer) -> Caller:
    with client_for(fuzz_hostd) as client:
        email = unique_email("fuzz")
        token, _ = register(client, email=email)
        resp = client.post("/api/projects", headers=auth(token), json={
            "name": "fuzzed", "github_url": NOWHERE, "template": "static"})
        assert resp.status_code == 201, resp.text
    return Caller(email, token, resp.json()["project"]["id"])


def _tame(case: schemathesis.Case, caller: Caller, turn: int) -> None:
    """Keep the run bounded and local (no endless streams, no clones from the network),
    and aim every other call at the caller's real project instead of a made-up id."""
    if isinstance(case.query, dict) and "follow" in case.query:
        case.query["follow"] = False
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("github_url"), str):
        try:
            check_repo_url(body["github_url"], allow_local=False)
            body["github_url"] = NOWHERE
        except ValueError:
            pass
    params = case.path_parameters
    if params and "project_id" in params and case.method != "DELETE" and turn % 2:
        params["project_id"] = caller.project_id


def _headers(case: schemathesis.Case, caller: Caller, url: str) -> dict[str, str]:
    """The caller's token; logout gets a throwaway one, so the run stays logged in."""
    if case.operation.path != "/api/auth/logout":
        return auth(caller.token)
    resp = httpx.post(f"{url}/api/auth/login", timeout=30,
                      json={"email": caller.email, "password": PASSWORD})
    return auth(resp.json()["token"])


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, url: str,
          caller: Caller) -> None:
    turns = itertools.count()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        _tame(case, caller, next(turns))
        case.call_and_validate(base_url=url, headers=_headers(case, caller, url),
                               checks=CHECKS, timeout=30)

    run()


# One test walks every operation the document lists (a new route is fuzzed without
# touching this file). Schemathesis' own pytest plugin (`from_fixture`) is not used:
# it breaks on pytest 9.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_matches_its_document(fuzz_hostd: HostdServer, caller: Caller,
                                      mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_hostd.url}/openapi.json")
    # The event stream never ends by design; tests/router/test_events.py covers it.
    operations = [op for op in (result.ok() for result in schema.get_all_operations())
                  if op.path != "/api/containers/events"]
    assert len(operations) >= 15
    failures = []
    for operation in operations:
        try:
            _fuzz(operation, mode, fuzz_hostd.url, caller)
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing to make invalid (a string path)
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
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


