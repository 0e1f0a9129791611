"""hostctl waits for a deploy to be over, not for the status to change: a redeployed
project stays `running` (its old version serves) while `deploying` is true."""

from __future__ import annotations

from typing import Any

import pytest

from hostctl.errors import DeployFailed
from hostctl.waiting import wait_for_deploy


class Answers:
    """The projects a daemon would answer, one per poll (the last one repeats)."""

    def __init__(self, *projects: dict[str, Any]) -> None:
        self.projects = list(projects)
        self.polls = 0

    def get_project(self, project_id: str) -> dict[str, Any]:
        self.polls += 1
        return self.projects.pop(0) if len(self.projects) > 1 else self.projects[0]

    def logs(self, project_id: str, source: str, tail: int) -> list[str]:
        return ["Step 3/3 : RUN exit 1"]


def project(status: str, reason: str | None = None, deploying: bool = False,
            step: str | None = None, last: str | None = None,
            why: str | None = None) -> dict:
    return {"id": "p1", "name": "site", "status": status, "status_reason": reason,
            "deploying": deploying, "deploy_step": step,
            "last_deploy": {"status": last, "reason": why} if last else None}


def wait(client: Answers) -> tuple[dict, list[str]]:
    steps: list[str] = []
    done = wait_for_deploy(client, "p1", steps.append, timeout_s=60,  # type: ignore[arg-type]
                           sleep=lambda _: None)
    return dict(done), steps


def test_a_redeploy_of_a_running_project_is_waited_out_and_its_steps_shown() -> None:
    client = Answers(project("running", "deploying: …", deploying=True, step="build"),
                     project("running", "deploying: …", deploying=True, step="health_check"),
                     project("running", deploying=True, step="a_new_step"),
                     project("running", last="succeeded"))
    done, steps = wait(client)
    assert done["status"] == "running" and client.polls == 4
    assert steps == ["building the image", "waiting for the app to answer", "a new step"]


def test_a_redeploy_that_failed_while_the_old_version_serves_is_a_failure() -> None:
    client = Answers(project("running", "deploying: …", deploying=True, step="build"),
                     project("running", "the last deploy failed: the build failed",
                             last="failed", why="the build failed"))
    with pytest.raises(DeployFailed) as failed:
        wait(client)
    assert "failed: the build failed" in str(failed.value)
    assert "RUN exit 1" in str(failed.value)


@pytest.mark.parametrize("reason", [None, "the last deploy failed: words", "deploying: x"])
def test_the_outcome_is_read_from_fields_never_from_the_reason(reason) -> None:
    """Rewording `status_reason` changes nothing: a success with any reason is one, a
    failure (or an interrupted deploy) with any reason is one."""
    assert wait(Answers(project("running", reason, last="succeeded")))[0]["status"] \
        == "running"
    for outcome in ("failed", "interrupted"):
        with pytest.raises(DeployFailed) as failed:
            wait(Answers(project("running", reason, last=outcome, why="it broke")))
        assert "failed: it broke" in str(failed.value)


def test_a_first_deploy_ends_in_running_or_error() -> None:
    assert wait(Answers(project("deploying", "queued", step="queued"),
                        project("running", last="succeeded")))[0]["status"] == "running"
    with pytest.raises(DeployFailed):
        wait(Answers(project("deploying", "cloning", step="clone"),
                     project("error", "clone failed", last="failed", why="clone failed")))
