"""The supervisor's rules (hostd.control.supervisor), as pure functions: the backoff, what
a crash says, whose job a project is, when a streak is forgiven."""

from __future__ import annotations

from datetime import datetime

from hostd.store.models import DesiredStatus, Project, ProjectStatus, as_utc

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 300.0
FORGIVEN_AFTER_S = 600.0
ENGINE_UNAVAILABLE = "the Docker engine is unavailable"
GONE = "the container and its image are gone: deploy again"


def backoff_s(streak: int) -> float:
    """The wait before the start that follows the `streak`-th crash in a row."""
    return min(BACKOFF_FIRST_S * 2 ** max(streak - 1, 0), BACKOFF_MAX_S)


def describe_exit(code: int | None, oom: bool) -> str:
    if oom:
        return f"out of memory, exit code {code}"
    if code is None:
        return "no exit code"
    return f"exit code {code}"


def crash_reason(streak: int, code: int | None, oom: bool, delay_s: float) -> str:
    times = "once" if streak == 1 else f"{streak} times in a row"
    return f"crashed {times} ({describe_exit(code, oom)}); next start in {delay_s:g} s"


def supervised(project: Project) -> bool:
    """Whether keeping it up is the supervisor's job: it should run, and it is running or
    down for a reason the supervisor gave (a failed deploy stays failed)."""
    if project.desired_status != DesiredStatus.running:
        return False
    return (project.status == ProjectStatus.running or project.crash_streak > 0
            or project.status_reason == ENGINE_UNAVAILABLE)


def streak_after_crash(project: Project, now: datetime) -> int:
    up_since = project.running_since
    if up_since is not None and (now - as_utc(up_since)).total_seconds() >= FORGIVEN_AFTER_S:
        return 1
    return project.crash_streak + 1
