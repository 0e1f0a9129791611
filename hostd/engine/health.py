"""Is the app up: watching a started container until it answers HTTP, and why it died."""

from __future__ import annotations

import ssl
import time
from typing import TYPE_CHECKING

import docker

from hostd.engine.containers import inspect_container

if TYPE_CHECKING:
    import httpx

POLL_S = 0.25
CHECK_TIMEOUT_S = 5.0  # one health check; a slow first answer is not a dead app


def plain_http_client(timeout: float) -> httpx.Client:
    """A client for hostd's own http://127.0.0.1 checks. httpx parses the CA bundle for
    every client otherwise (about 50 ms of CPU), which a poll loop paid on every round.
    The context trusts no CA: should TLS ever be asked for, it fails closed. httpx is
    imported here, at the first check: it brings rich and pygments, a tenth of the
    daemon's start-up."""
    import httpx

    return httpx.Client(timeout=timeout, verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def exit_reason(exit_code: int | None, oom_killed: bool) -> str:
    if oom_killed:
        return f"the app ran out of memory and was killed (exit code {exit_code})"
    if exit_code == 137:
        return "the app was killed (exit code 137)"
    if exit_code is None:
        return "the app exited"
    return f"the app exited with code {exit_code}"


def wait_until_serving(client: docker.DockerClient, container_id: str, timeout_s: float,
                       path: str = "/") -> tuple[str | None, int | None]:
    """Poll until the app answers GET `path` on its published port with a status below
    500 (each try may take CHECK_TIMEOUT_S).

    Returns (None, host_port) once it does, or (why it never did, None). The port is
    read from the engine on every round: it appears only once the container runs.
    Run it with restart policy `no` meanwhile, so a crash shows as `exited` with its code.
    """
    import httpx

    deadline = time.monotonic() + timeout_s
    last_status: int | None = None
    with plain_http_client(CHECK_TIMEOUT_S) as http:
        while time.monotonic() < deadline:
            state = inspect_container(client, container_id)
            if state is None:
                return "the container disappeared while starting", None
            if state.status in ("exited", "dead", "restarting"):
                return exit_reason(state.exit_code, state.oom_killed) + " while starting", None
            if state.running and state.host_port is not None:
                try:
                    last_status = http.get(f"http://127.0.0.1:{state.host_port}{path}",
                                           timeout=min(CHECK_TIMEOUT_S, max(
                                               0.1, deadline - time.monotonic()))).status_code
                    if last_status < 500:
                        return None, state.host_port
                except httpx.HTTPError:
                    pass
            time.sleep(POLL_S)
    if last_status is not None:
        return (f"the app answered {last_status} on {path} for {timeout_s:.0f}s: "
                "a health check needs an answer below 500"), None
    return (f"the app did not answer HTTP on $PORT (8000) within {timeout_s:.0f}s: "
            "make it listen on 0.0.0.0:$PORT"), None


def wait_http(host_port: int, timeout: float, path: str = "/") -> bool:
    """Poll ``http://127.0.0.1:{host_port}{path}`` until any HTTP answer; False at timeout."""
    deadline = time.monotonic() + timeout
    import httpx

    url = f"http://127.0.0.1:{host_port}{path}"
    with plain_http_client(2.0) as http:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                http.get(url, timeout=min(2.0, remaining))
                return True
            except httpx.HTTPError:
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
