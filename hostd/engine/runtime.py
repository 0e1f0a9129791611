"""Watching a started app come up, and finding a project's images."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
from docker import DockerClient

from hostd.engine.client import ContainerMissing, translate_errors
from hostd.engine.containers import _lines as split_lines  # same package: its line splitter
from hostd.engine.containers import inspect_container
from hostd.engine.naming import INSTANCE_LABEL, PROJECT_LABEL

POLL_S = 0.25


def exit_reason(exit_code: int | None, oom_killed: bool) -> str:
    if oom_killed:
        return f"the app ran out of memory and was killed (exit code {exit_code})"
    if exit_code == 137:
        return "the app was killed (exit code 137)"
    if exit_code is None:
        return "the app exited"
    return f"the app exited with code {exit_code}"


def wait_until_serving(client: DockerClient, container_id: str,
                       timeout_s: float) -> tuple[str | None, int | None]:
    """Poll until the app answers HTTP on its published port.

    Returns (None, host_port) once it answers, or (why it never did, None). The port is
    read from the engine on every round: it appears only once the container runs.
    Run it with restart policy `no` meanwhile, so a crash shows as `exited` with its code.
    """
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            state = inspect_container(client, container_id)
            if state is None:
                return "the container disappeared while starting", None
            if state.status in ("exited", "dead", "restarting"):
                return exit_reason(state.exit_code, state.oom_killed) + " while starting", None
            if state.running and state.host_port is not None:
                try:
                    http.get(f"http://127.0.0.1:{state.host_port}/")
                    return None, state.host_port
                except httpx.HTTPError:
                    pass
            time.sleep(POLL_S)
    return (f"the app did not answer HTTP on $PORT (8000) within {timeout_s:.0f}s: "
            "make it listen on 0.0.0.0:$PORT"), None


def project_images(client: DockerClient, instance: str, project_id: str) -> list[str]:
    """Tags (or ids) of every image hostd built for the project."""
    filters = {"label": [f"{INSTANCE_LABEL}={instance}", f"{PROJECT_LABEL}={project_id}"]}
    with translate_errors(f"list images of project {project_id}"):
        images = client.images.list(filters=filters)
    return [image.tags[0] if image.tags else image.id for image in images]


def instance_images(client: DockerClient, instance: str) -> dict[str, list[str]]:
    """Every image of this daemon instance, by project id."""
    with translate_errors("list images"):
        images = client.images.list(filters={"label": f"{INSTANCE_LABEL}={instance}"})
    found: dict[str, list[str]] = {}
    for image in images:
        project = (image.labels or {}).get(PROJECT_LABEL)
        if project:
            found.setdefault(project, []).append(image.tags[0] if image.tags else image.id)
    return found


class LogStream:
    """A followed container log that another thread can close to stop the reader."""

    def __init__(self, client: DockerClient, container_id: str, tail: int) -> None:
        with translate_errors(f"logs of container {container_id}", not_found=ContainerMissing):
            container = client.containers.get(container_id)
            self._raw = container.logs(stream=True, follow=True, tail=tail)

    def lines(self) -> Iterator[str]:
        return split_lines(self._raw)

    def close(self) -> None:
        self._raw.close()
