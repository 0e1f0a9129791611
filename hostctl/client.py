"""A typed client for the whole hostd HTTP API (the contract plus the Docker routes).

Every 4xx/5xx body becomes an `ApiError` subclass carrying error, message and
statusCode; transport failures become `DaemonUnreachable` or `RequestTimeout`.
Commands call this and render; they never touch httpx themselves.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import httpx

from hostctl.errors import DaemonUnreachable, NotFound, RequestTimeout, api_error_for

DEFAULT_TIMEOUT_S = 30.0
ContainerAction = Literal["start", "stop", "restart"]
LogSource = Literal["build", "runtime"]


class User(TypedDict):
    id: str
    email: str
    name: str
    handle: str


class Metrics(TypedDict):
    cpu: float
    memory: float
    requests: int


class Project(TypedDict):
    id: str
    userId: str
    name: str
    status: str
    status_reason: str | None
    url: str
    template: str
    github_url: str
    created_at: str
    metrics: Metrics


class Deployment(TypedDict):
    id: str
    status: str
    commit: str | None
    image: str | None
    started_at: str | None
    finished_at: str | None
    reason: str | None


class AuthResult(TypedDict):
    user: User
    token: str


@dataclass(frozen=True)
class ServerEvent:
    """One server-sent event with its JSON data decoded (None when it is not JSON)."""

    event: str
    data: Any
    id: str | None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def raise_for_api_error(response: httpx.Response) -> None:
    """Turn a 4xx/5xx into the matching ApiError; a body that is not the contract's still is."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
        error, message = str(body["error"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        error, message = "HTTPError", response.text[:200] or response.reason_phrase
    raise api_error_for(response.status_code, error, message, _retry_after(response))


class HostdClient:
    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.api_url, headers=headers, timeout=timeout, transport=transport,
            verify=_tls_verification(self.api_url),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HostdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            # A connect timeout means nothing answered at all: same advice as refused.
            if isinstance(exc, httpx.ConnectTimeout):
                raise DaemonUnreachable(self.api_url) from exc
            raise RequestTimeout(self.api_url) from exc
        except httpx.TransportError as exc:
            # Refused, reset or dropped mid-stream: either way hostd is not there for us.
            raise DaemonUnreachable(self.api_url) from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._transport_errors():
            response = self._http.request(method, path, **kwargs)
        raise_for_api_error(response)
        return response.json()

    # --- health and auth ------------------------------------------------------------

    def health(self) -> dict[str, str]:
        return self._request("GET", "/healthz")

    def register(self, email: str, password: str, name: str) -> AuthResult:
        body = {"email": email, "password": password, "name": name}
        return self._request("POST", "/api/auth/register", json=body)

    def login(self, email: str, password: str) -> AuthResult:
        return self._request("POST", "/api/auth/login", json={"email": email, "password": password})

    def me(self) -> User:
        return self._request("GET", "/api/auth/me")["user"]

    def logout(self) -> str:
        return self._request("POST", "/api/auth/logout")["message"]

    # --- projects -------------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        return self._request("GET", "/api/projects")["projects"]

    def create_project(self, name: str, github_url: str, template: str) -> Project:
        body = {"name": name, "github_url": github_url, "template": template}
        return self._request("POST", "/api/projects", json=body)["project"]

    def get_project(self, project_id: str) -> Project:
        return self._request("GET", f"/api/projects/{project_id}")["project"]

    def find_project(self, ref: str) -> Project:
        """A project by name or id: names are what people type, ids what scripts keep."""
        for project in self.list_projects():
            if ref in (project["name"], project["id"]):
                return project
        raise NotFound("NotFound", f"no project named {ref!r}", 404)

    def delete_project(self, project_id: str) -> str:
        return self._request("DELETE", f"/api/projects/{project_id}")["message"]

    def set_status(self, project_id: str, status: str) -> Project:
        path = f"/api/projects/{project_id}/status"
        return self._request("PATCH", path, json={"status": status})["project"]

    def deploy(self, project_id: str) -> Project:
        return self._request("POST", f"/api/projects/{project_id}/deploy")["project"]

    def deployments(self, project_id: str) -> list[Deployment]:
        return self._request("GET", f"/api/projects/{project_id}/deployments")["deployments"]

    def logs(self, project_id: str, source: LogSource = "runtime", tail: int = 100) -> list[str]:
        params = {"source": source, "tail": tail}
        return self._request("GET", f"/api/projects/{project_id}/logs", params=params)["lines"]

    # --- containers -----------------------------------------------------------------

    def container_status(self, project_id: str) -> str:
        return self._request("GET", f"/api/containers/{project_id}/status")["status"]

    def container_action(self, project_id: str, action: ContainerAction) -> str:
        return self._request("POST", f"/api/containers/{project_id}/{action}")["message"]

    # --- streams --------------------------------------------------------------------

    def follow_logs(
        self, project_id: str, source: LogSource = "runtime", tail: int = 100
    ) -> Iterator[str]:
        """Log lines as they come, until the daemon sends `end`."""
        params = {"source": source, "tail": str(tail), "follow": "true"}
        for event in self.stream(f"/api/projects/{project_id}/logs", params=params):
            if event.event == "end":
                return
            if event.event == "log" and isinstance(event.data, dict):
                yield str(event.data.get("line", ""))

    def events(self, last_event_id: str | None = None) -> Iterator[ServerEvent]:
        """The live event stream of the caller's projects (`connected`, `metrics_updated`, …)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        return self.stream("/api/containers/events", headers=headers)

    def stream(
        self, path: str, *, params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[ServerEvent]:
        from httpx_sse import connect_sse  # only the streaming commands pay for it

        # No read timeout: a quiet stream is not a dead daemon (it sends keep-alives).
        timeout = httpx.Timeout(DEFAULT_TIMEOUT_S, read=None)
        # httpx-sse adds its Accept header to the dict it is given: never hand it None.
        with self._transport_errors(), connect_sse(
            self._http, "GET", path, params=params, headers=dict(headers or {}), timeout=timeout
        ) as source:
            if source.response.status_code >= 400:
                source.response.read()
                raise_for_api_error(source.response)
            for sse in source.iter_sse():
                yield ServerEvent(event=sse.event, data=_json_or_none(sse.data), id=sse.id or None)


def _tls_verification(api_url: str) -> ssl.SSLContext | bool:
    """Full verification for https; for plain http, a context that is never used.

    httpx builds its default context (loading the CA bundle, ~55 ms) even for http://
    URLs; hostd listens on plain loopback HTTP, so most runs would pay for nothing. The
    bare context verifies hostnames and certificates but trusts no CA: should it ever
    be used it fails closed.
    """
    if api_url.startswith("https://"):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
