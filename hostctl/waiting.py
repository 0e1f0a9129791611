"""Waiting for a deploy to finish, reporting each step as the daemon names it.

Decided from the project's fields (`deploying`, `status`, `deploy_step`, `last_deploy`),
never from its `status_reason`, which is prose for people and may be reworded."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hostctl.errors import DeployFailed, DeployTimeout, NotFound

if TYPE_CHECKING:
    from hostctl.client import HostdClient, Project

POLL_INTERVAL_S = 0.5
BUILD_LOG_LINES = 15


def wait_for_deploy(
    client: HostdClient,
    project_id: str,
    on_step: Callable[[str], None],
    *,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Project:
    """Poll until the project's deploy is over; DeployFailed (with the build log) when it
    failed, whether the project ended in `error` or its old version serves on.

    A redeployed project stays `running` while its new version is built: `deploying`
    (true while a deploy is queued or under way) says when it is over.
    Polling, not the event stream: it needs no extra route, survives a daemon restart
    mid-deploy, and a half-second step is plenty for a spinner.
    """
    deadline = clock() + timeout_s
    while True:
        project = client.get_project(project_id)
        if not _deploying(project):
            break
        on_step(_step(project))
        if clock() >= deadline:
            raise DeployTimeout(project["name"], timeout_s)
        sleep(POLL_INTERVAL_S)
    if project["status"] == "error" or _last_deploy_status(project) in FAILED:
        raise DeployFailed(_failure_message(client, project))
    return project


# How a deploy ended, in `last_deploy.status`, when it did not succeed: a redeploy that
# failed leaves the old release serving (the project stays `running`).
FAILED = frozenset({"failed", "interrupted"})
# What each step of hostd.control.steps is called on the spinner (an unknown one: its name).
STEP_WORDS = {
    "queued": "queued",
    "clone": "cloning the repository",
    "unpack": "unpacking the uploaded source",
    "build": "building the image",
    "release": "running the release command",
    "run": "starting the container",
    "health_check": "waiting for the app to answer",
    "switch": "switching traffic to the new container",
}


def _deploying(project: Project) -> bool:
    return bool(project.get("deploying")) or project["status"] == "deploying"


def _last_deploy_status(project: Project) -> str | None:
    last = project.get("last_deploy")
    return last["status"] if last else None


def _step(project: Project) -> str:
    step = project.get("deploy_step")
    return STEP_WORDS.get(step, step.replace("_", " ")) if step else "deploying"


def _failure_message(client: HostdClient, project: Project) -> str:
    last = project.get("last_deploy")
    reason = last["reason"] if last and last["status"] in FAILED else None
    reason = reason or project.get("status_reason") or "no reason given"
    try:
        lines = client.logs(project["id"], source="build", tail=BUILD_LOG_LINES)
    except NotFound:
        lines = []
    message = f"deploy of {project['name']} failed: {reason}"
    if lines:
        message += "\nlast build log lines:\n" + "\n".join(f"  {line}" for line in lines)
    return message
