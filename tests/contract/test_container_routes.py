"""The contract's `/api/containers` routes and its event stream, black-box over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.contract.api import STATUSES, Account, assert_error, bearer, engine_answer
from tests.contract.conftest import Target

EVENTS = "/api/containers/events"


@pytest.fixture
def client(target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.url, timeout=60.0) as client:
        yield client


@pytest.fixture
def alice(client: httpx.Client, target: Target) -> Account:
    return Account(client, target.repo, name="Alice")


def status_of(account: Account, project_id: str) -> str:
    resp = account.call("GET", f"/api/containers/{project_id}/status")
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) >= {"status"} and resp.json()["status"] in STATUSES
    return str(resp.json()["status"])


def message_of(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"message"} and isinstance(resp.json()["message"], str)
    return str(resp.json()["message"])


def test_status_stop_start_restart(alice):
    project = alice.settled(alice.create()["id"])
    assert status_of(alice, project["id"]) == project["status"]
    message_of(alice.call("POST", f"/api/containers/{project['id']}/stop"))
    assert status_of(alice, project["id"]) == "stopped"
    message_of(engine_answer(alice.call("POST", f"/api/containers/{project['id']}/start")))
    alice.settled(project["id"])
    message_of(alice.call("POST", f"/api/containers/{project['id']}/restart"))
    assert alice.settled(project["id"])["id"] == project["id"]


def first_event(client: httpx.Client, headers: dict[str, str]) -> tuple[str, str]:
    """The first event of the stream (its name and data), comments skipped."""
    with client.stream("GET", EVENTS, headers=headers, timeout=30.0) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        name, data = "", ""
        for line in resp.iter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data = line.removeprefix("data:").strip()
            elif line == "" and name:
                return name, data
    raise AssertionError("the stream ended before its first event")


def test_the_event_stream_says_connected_first(client, alice):
    alice.create()
    assert first_event(client, alice.headers)[0] == "connected"


def test_the_event_stream_needs_a_valid_token(client, alice):
    assert_error(client.get(EVENTS), 401, "Unauthorized")
    assert_error(client.get(EVENTS, headers=bearer("not-a-jwt")), 401, "Unauthorized")
    assert alice.call("POST", "/api/auth/logout").status_code == 200
    assert_error(client.get(EVENTS, headers=alice.headers), 401, "Unauthorized")
