"""A typed client for the whole hostd HTTP API (the contract plus the Docker routes).

Every 4xx/5xx body becomes an `ApiError` subclass carrying error, message and
statusCode; transport failures become `DaemonUnreachable` or `RequestTimeout`.
Commands call this and render; they never touch the transport themselves. One-shot
requests go through `hostctl.transport` (the standard library for plain http://, httpx
otherwise); the streams always use httpx, imported only when one is opened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hostctl import __version__
from hostctl.errors import NotFound, api_error_for
from hostctl.shapes import (
    AuthResult,
    ContainerAction,
    CronJob,
    CronRun,
    Deployment,
    DesiredStatus,
    EnvUpdate,
    FormationResult,
    LastDeploy,
    LastExit,
    LogSource,
    Metrics,
    ProcessInfo,
    Project,
    Release,
    RollbackResult,
    User,
)
from hostctl.transport import HttpxTransport, PlainHttp, Reply, plain_http_applies, reply_of

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from hostctl.transport import Transport
    from hostctl.uploading import SourceUpload

# The response shapes (hostctl.shapes) are re-exported: commands import them from here.
__all__ = [
    "HostdClient", "ServerEvent", "AuthResult", "ContainerAction", "CronJob", "CronRun",
    "Deployment",
    "DesiredStatus", "EnvUpdate", "LastDeploy", "LastExit", "LogSource", "Metrics",
    "Project", "Release", "RollbackResult", "User", "ProcessInfo", "FormationResult",
]

# A config change, restart or rollback answers once the new container is healthy, which
# hostd waits for up to HOSTD_DEPLOY_TIMEOUT (60 s by default): the wait must outlast it.
DEFAULT_TIMEOUT_S = 90.0

@dataclass(frozen=True)
class ServerEvent:
    """One server-sent event with its JSON data decoded (None when it is not JSON)."""

    event: str
    data: Any
    id: str | None


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def raise_for_api_error(reply: Reply) -> None:
    """Turn a 4xx/5xx into the matching ApiError; a body that is not the contract's still is."""
    if reply.status < 400:
        return
    try:
        body = json.loads(reply.body)
        error, message = str(body["error"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        text = reply.body.decode("utf-8", errors="replace")
        error, message = "HTTPError", text[:200] or reply.reason
    raise api_error_for(reply.status, error, message, _retry_after(reply.retry_after))


class HostdClient:
    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self._headers = {"User-Agent": f"hostctl/{__version__}"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._httpx_transport = transport
        self._oneshot: Transport = (
            PlainHttp(self.api_url, self._headers, timeout)
            if transport is None and plain_http_applies(self.api_url, environ)
            else self._httpx
        )

    @cached_property
    def _httpx(self) -> HttpxTransport:
        """The httpx client: for streams, and for one-shot requests plain HTTP can't serve."""
        return HttpxTransport(self.api_url, self._headers, self._timeout, self._httpx_transport)

    def close(self) -> None:
        self._oneshot.close()  # may be the httpx transport too: closing twice is harmless
        if "_httpx" in self.__dict__:
            self._httpx.close()

    def __enter__(self) -> HostdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------

    def _request(
        self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Any:
        reply = self._oneshot.request(method, path, params=params, json_body=json)
        raise_for_api_error(reply)
        return _json_body(reply.body)

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

    def logout_all(self) -> str:
        """Revoke every token of the account, this one included."""
        return self._request("POST", "/api/auth/logout-all")["message"]

    def change_password(self, current_password: str, new_password: str) -> str:
        """A new password; hostd revokes every other token of the account, not this one."""
        body = {"current_password": current_password, "new_password": new_password}
        return self._request("POST", "/api/auth/password", json=body)["message"]

    # --- projects -------------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        return self._request("GET", "/api/projects")["projects"]

    def create_project(self, name: str, github_url: str, template: str,
                       env: dict[str, str] | None = None,
                       health_path: str | None = None,
                       formation: Mapping[str, int] | None = None) -> Project:
        body: dict[str, object] = {"name": name, "github_url": github_url, "template": template}
        if env:
            body["env"] = env
        if formation:  # the first formation: {"worker": 1}
            body["formation"] = dict(formation)
        if health_path is not None:  # absent, not null: hostd's default ("/") applies
            body["health_path"] = health_path
        return self._request("POST", "/api/projects", json=body)["project"]

    def create_upload_project(self, name: str, template: str,
                              formation: Mapping[str, int] | None = None) -> Project:
        """A project whose code comes from upload_source (created stopped, waiting for it)."""
        body: dict[str, object] = {"name": name, "template": template, "source": "upload"}
        if formation:
            body["formation"] = dict(formation)
        return self._request("POST", "/api/projects", json=body)["project"]

    def upload_source(self, project_id: str, archive: Path,
                      on_progress: Callable[[int], None] | None = None) -> SourceUpload:
        """Send a gzip'd tar of the project's code; hostd deploys it unless unchanged."""
        from hostctl.uploading import send_archive, source_upload

        reply = send_archive(self._httpx, f"/api/projects/{project_id}/source", archive,
                             on_progress)
        raise_for_api_error(reply)
        return source_upload(reply.status, _json_body(reply.body))

    def get_project(self, project_id: str) -> Project:
        return self._request("GET", f"/api/projects/{project_id}")["project"]

    def find_project(self, ref: str) -> Project:
        """A project by name or id: names are what people type, ids what scripts keep."""
        for project in self.list_projects():
            if ref in (project["name"], project["id"]):
                return project
        raise NotFound("NotFound", f"no project named {ref!r}", 404)

    def patch_project(self, project_id: str, changes: Mapping[str, str]) -> Project:
        """Change a project's settings (`{"health_path": "/healthz"}`); the answer is the project.

        Nothing restarts: hostd uses the settings from the next deploy or change on.
        """
        body = self._request("PATCH", f"/api/projects/{project_id}", json=dict(changes))
        return body["project"]

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

    def marked_logs(self, project_id: str, source: LogSource = "runtime", tail: int = 100,
                    process: str | None = None) -> list[tuple[str | None, str]]:
        """(process, line) pairs: the process (`web.1`) of each runtime line, None for a
        build line or a daemon that does not mark them."""
        params: dict[str, str | int] = {"source": source, "tail": tail}
        if process:
            params["process"] = process
        body = self._request("GET", f"/api/projects/{project_id}/logs", params=params)
        lines = [str(line) for line in body["lines"]]
        marks = body.get("processes") or [None] * len(lines)
        return [(str(mark) if mark is not None else None, line)
                for mark, line in zip(marks, lines, strict=False)]

    # --- releases -------------------------------------------------------------------

    def releases(self, project_id: str) -> list[Release]:
        """The project's releases, newest first."""
        return self._request("GET", f"/api/projects/{project_id}/releases")["releases"]

    def rollback(self, project_id: str, version: int | None = None) -> RollbackResult:
        """Run an earlier release again, as a new one; None means the one before the current.

        Like a config change, hostd answers once the app serves on it (or 409 if it did not).
        """
        body = {} if version is None else {"version": version}
        answer = self._request("POST", f"/api/projects/{project_id}/rollback", json=body)
        return {"release": answer["release"], "message": answer["message"]}

    # --- process types ----------------------------------------------------------------

    def processes(self, project_id: str) -> list[ProcessInfo]:
        """Every replica of every process type (`hostctl ps`)."""
        return self._request("GET", f"/api/projects/{project_id}/processes")["processes"]

    def formation(self, project_id: str) -> dict[str, int]:
        """How many replicas of each process type run (`projects show`); {} when unsaid."""
        shown = self._request("GET", f"/api/projects/{project_id}/formation").get("formation")
        return {str(k): v for k, v in shown.items() if isinstance(v, int)} \
            if isinstance(shown, dict) else {}

    def scale(self, project_id: str, quantities: Mapping[str, int]) -> FormationResult:
        """Change the quantities of the types named; hostd answers once they run."""
        answer = self._request("PATCH", f"/api/projects/{project_id}/formation",
                               json=dict(quantities))
        return {"formation": answer["formation"], "processes": answer["processes"],
                "message": answer.get("message")}

    # --- config vars ----------------------------------------------------------------

    def get_env(self, project_id: str) -> dict[str, str]:
        return self._request("GET", f"/api/projects/{project_id}/env")["env"]

    def patch_env(self, project_id: str, changes: Mapping[str, str | None]) -> EnvUpdate:
        """A JSON merge of the config vars: a string sets a variable, None removes it.

        A running project is recreated with them before the answer comes back.
        """
        path = f"/api/projects/{project_id}/env"
        body = self._request("PATCH", path, json={"env": dict(changes)})
        return {"env": body["env"], "message": body["message"]}

    # --- containers -----------------------------------------------------------------

    def cron_jobs(self, project_id: str) -> list[CronJob]:
        return self._request("GET", f"/api/projects/{project_id}/cron")["jobs"]

    def cron_runs(self, project_id: str, job_id: str) -> list[CronRun]:
        """The job's kept runs, newest first, each with its output's last lines."""
        path = f"/api/projects/{project_id}/cron/{quote(job_id, safe='')}/runs"
        return self._request("GET", path)["runs"]

    def run_cron(self, project_id: str, job_id: str) -> CronRun:
        """Start the job once now (202); `cron_runs` tells how it ends."""
        path = f"/api/projects/{project_id}/cron/{quote(job_id, safe='')}/run"
        return self._request("POST", path)["run"]

    def container_status(self, project_id: str) -> str:
        return self._request("GET", f"/api/containers/{project_id}/status")["status"]

    def container_action(self, project_id: str, action: ContainerAction) -> str:
        return self._request("POST", f"/api/containers/{project_id}/{action}")["message"]

    # --- streams --------------------------------------------------------------------

    def follow_logs(
        self, project_id: str, source: LogSource = "runtime", tail: int = 100
    ) -> Iterator[str]:
        """Log lines as they come, until the daemon sends `end`."""
        for _, line in self.follow_marked_logs(project_id, source, tail):
            yield line

    def follow_marked_logs(
        self, project_id: str, source: LogSource = "runtime", tail: int = 100,
        process: str | None = None,
    ) -> Iterator[tuple[str | None, str]]:
        """(process, line) pairs as they come, until the daemon sends `end`."""
        params = {"source": source, "tail": str(tail), "follow": "true"}
        if process:
            params["process"] = process
        for event in self.stream(f"/api/projects/{project_id}/logs", params=params):
            if event.event == "end":
                return
            if event.event == "log" and isinstance(event.data, dict):
                mark = event.data.get("process")
                yield (str(mark) if mark is not None else None,
                       str(event.data.get("line", "")))

    def events(self, last_event_id: str | None = None) -> Iterator[ServerEvent]:
        """The live event stream of the caller's projects (`connected`, `metrics_updated`, …)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        return self.stream("/api/containers/events", headers=headers)

    def stream(
        self, path: str, *, params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None, method: str = "GET", json: Any = None,
    ) -> Iterator[ServerEvent]:
        import httpx
        from httpx_sse import connect_sse  # only the streaming commands pay for it

        # No read timeout: a quiet stream is not a dead daemon (it sends keep-alives).
        timeout = httpx.Timeout(DEFAULT_TIMEOUT_S, read=None)
        http = self._httpx
        # httpx-sse adds its Accept header to the dict it is given: never hand it None.
        with http.errors(), connect_sse(
            http.client, method, path, params=params, headers=dict(headers or {}),
            timeout=timeout, json=json,
        ) as source:
            if source.response.status_code >= 400:
                source.response.read()
                raise_for_api_error(reply_of(source.response))
            for sse in source.iter_sse():
                event = ServerEvent(event=sse.event, data=_json_or_none(sse.data),
                                    id=sse.id or None)
                _raise_for_ending_error(event)
                yield event


def _raise_for_ending_error(event: ServerEvent) -> None:
    """hostd ends a stream whose token was revoked or expired with `end` and the error the
    next request would get: raised here, so it reads as that 401, not as a finished stream."""
    data = event.data
    if event.event != "end" or not isinstance(data, dict) or "error" not in data:
        return
    status = data.get("statusCode")
    raise api_error_for(status if isinstance(status, int) else 401, str(data["error"]),
                        str(data.get("reason", "")))


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _json_body(body: bytes) -> Any:
    # Module-level: inside `_request` the name `json` is the request body.
    return json.loads(body)
