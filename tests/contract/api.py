"""What the contract suite knows of the API: plain httpx, the shapes of
/work/shared/DESIGN.md "The HTTP API (the contract)", nothing of hostd's insides."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

PASSWORD = "contract-pass"
USER_KEYS = {"id", "email", "name"}
PROJECT_KEYS = {"id", "userId", "name", "status", "url", "template", "github_url",
                "created_at", "metrics"}
STATUSES = {"running", "stopped", "deploying", "error"}
TEMPLATES = ("static", "react", "flask", "nodejs")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)")
RETRIES = 20  # answers of 429 a create may get (each waits its Retry-After, at most 5 s)
SETTLE_S = 60.0


def unique_email(prefix: str = "contract") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(resp: httpx.Response, status: int, name: str) -> dict[str, Any]:
    """The contract's error body, exactly: `{error, message, statusCode}`, JSON."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error", "message", "statusCode"}, body
    assert (body["error"], body["statusCode"]) == (name, status), body
    assert isinstance(body["message"], str) and body["message"]
    return body


def engine_answer(resp: httpx.Response) -> httpx.Response:
    """A start's answer; without a container engine the contract's 503, and the test
    skips (a start that needs no image of its own still asks the engine)."""
    if resp.status_code == 503:
        assert_error(resp, 503, "ServiceUnavailable")
        pytest.skip("the container engine is unreachable: the start answered 503")
    return resp


def claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified: the suite only reads what the contract promises."""
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


def assert_user(user: dict[str, Any], email: str, name: str) -> None:
    assert set(user) >= USER_KEYS, user
    assert (user["email"], user["name"]) == (email, name)
    assert isinstance(user["id"], str) and user["id"]


def assert_project(project: dict[str, Any]) -> None:
    assert set(project) >= PROJECT_KEYS, project
    assert project["status"] in STATUSES
    assert isinstance(project["url"], str) and project["url"]
    assert ISO_UTC.fullmatch(project["created_at"]), project["created_at"]
    created = datetime.fromisoformat(project["created_at"].replace("Z", "+00:00"))
    assert created.tzinfo is not None and abs((datetime.now(UTC) - created).days) < 1
    metrics = project["metrics"]
    assert set(metrics) >= {"cpu", "memory", "requests"}, metrics
    assert all(isinstance(metrics[k], int | float) for k in ("cpu", "memory", "requests"))


class Account:
    """A registered user of the API under test."""

    def __init__(self, client: httpx.Client, repo: str, name: str = "Contract User") -> None:
        self.client, self.repo = client, repo
        self.email, self.name = unique_email(), name
        resp = client.post("/api/auth/register",
                           json={"email": self.email, "password": PASSWORD, "name": name})
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert set(body) == {"user", "token"}, body
        assert_user(body["user"], self.email, name)
        self.id: str = body["user"]["id"]
        self.token: str = body["token"]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    def call(self, method: str, path: str, headers: dict[str, str] | None = None,
             **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, headers={**self.headers, **(headers or {})},
                                   **kwargs)

    def create(self, name: str | None = None, template: str = "static") -> dict[str, Any]:
        """A new project (201), honouring a 429's Retry-After as a client should."""
        body = {"name": name or f"c-{uuid.uuid4().hex[:8]}", "github_url": self.repo,
                "template": template}
        for _ in range(RETRIES):
            resp = self.call("POST", "/api/projects", json=body)
            if resp.status_code != 429:
                break
            assert_error(resp, 429, "RateLimited")
            time.sleep(min(int(resp.headers["Retry-After"]), 5))
        assert resp.status_code == 201, resp.text
        assert set(resp.json()) == {"project"}
        project: dict[str, Any] = resp.json()["project"]
        assert_project(project)
        assert (project["name"], project["template"], project["github_url"], project["userId"],
                project["status"]) == (body["name"], template, self.repo, self.id, "deploying")
        return project

    def project(self, project_id: str) -> dict[str, Any]:
        resp = self.call("GET", f"/api/projects/{project_id}")
        assert resp.status_code == 200, resp.text
        assert set(resp.json()) == {"project"}
        project: dict[str, Any] = resp.json()["project"]
        assert_project(project)
        return project

    def settled(self, project_id: str) -> dict[str, Any]:
        """The project once it is no longer `deploying` (its deploy is over)."""
        deadline = time.monotonic() + SETTLE_S
        while (project := self.project(project_id))["status"] == "deploying":
            assert time.monotonic() < deadline, project
            time.sleep(0.05)
        return project
