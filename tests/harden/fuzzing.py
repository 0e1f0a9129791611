"""The schemathesis and hypothesis side of tests/harden/test_fuzz.py, imported only when a
fuzz test runs: the two libraries take 2.7 s to import, which every test run paid at
collection while they sat at the top of the test module."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import httpx
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
from tests.support import auth, tls

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
NOWHERE = "file:///nonexistent/fuzzed.git"
PASSWORD = "s3cret-pass"  # tests.support.register's


@dataclass
class Caller:
    email: str
    token: str
    project_id: str


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
    """The caller's token, so the run stays logged in: logout gets a throwaway token of
    the caller's, logout-all (which revokes every token of its user) one of another user."""
    path = case.operation.path
    if path == "/api/auth/logout":
        return auth(_login(url, caller.email))
    if path == "/api/auth/logout-all":
        return auth(_login(url, _bystander(url)))
    return auth(caller.token)


_BYSTANDERS: dict[str, str] = {}  # daemon URL -> the email of a user fuzzed to log out


def _bystander(url: str) -> str:
    if url not in _BYSTANDERS:
        email = f"bystander-{uuid.uuid4().hex[:10]}@example.com"
        resp = httpx.post(f"{url}/api/auth/register", timeout=30, verify=tls(),
                          json={"email": email, "password": PASSWORD, "name": "Bystander"})
        assert resp.status_code == 201, resp.text
        _BYSTANDERS[url] = email
    return _BYSTANDERS[url]


def _login(url: str, email: str) -> str:
    resp = httpx.post(f"{url}/api/auth/login", timeout=30,
                      json={"email": email, "password": PASSWORD}, verify=tls())
    return resp.json()["token"]


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, url: str,
          caller: Caller, examples: int) -> None:
    turns = itertools.count()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        _tame(case, caller, next(turns))
        case.call_and_validate(base_url=url, headers=_headers(case, caller, url),
                               checks=CHECKS, timeout=30)

    run()




def _gzip_bodies() -> None:
    """What the source upload (application/gzip) is sent: bytes, gzip'd garbage and
    archives with a refused member, so nothing the fuzzer sends is ever built."""
    import gzip

    from hypothesis import strategies as st

    from tests.archives import archive

    bodies = st.one_of(st.binary(max_size=512), st.binary(max_size=512).map(gzip.compress),
                       st.sampled_from([archive([("../x", "file", "x")]),
                                        archive([("l", "sym", "/etc")])]))
    for media in ("application/gzip", "application/x-gzip"):
        schemathesis.openapi.media_type(media, bodies)


def fuzz_every_operation(url: str, caller: Caller, mode_name: str, examples: int) -> list[str]:
    """Fuzz each operation the daemon's document lists, `examples` cases each; what
    failed, one line each.
    The event stream never ends by design; tests/router/test_events.py covers it."""
    mode = GenerationMode(mode_name)
    _gzip_bodies()
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [op for op in (result.ok() for result in schema.get_all_operations())
                  if op.path != "/api/containers/events"]
    assert len(operations) >= 15
    failures = []
    for operation in operations:
        try:
            _fuzz(operation, mode, url, caller, examples)
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing to make invalid (a string path)
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures
