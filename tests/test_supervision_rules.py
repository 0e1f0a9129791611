"""The supervisor's rules, as pure functions: the backoff, what a crash says, whose job a
project is, when a streak is forgiven, and how an exit reads in the project's JSON.
The real thing, on the real engine: tests/deploy/test_supervision.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hostd.control.supervision import (
    ENGINE_UNAVAILABLE,
    backoff_s,
    crash_reason,
    streak_after_crash,
    supervised,
)
from hostd.store.models import Project
from hostd.store.projects import last_exit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def project(**fields: object) -> Project:
    return Project(user_id="u", name="p", template="static", github_url="file:///r",
                   **fields)


def test_the_backoff_starts_at_a_second_doubles_and_stops_at_five_minutes() -> None:
    assert [backoff_s(n) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert backoff_s(40) == 300


def test_a_crash_says_how_often_why_and_when_the_next_start_is() -> None:
    assert crash_reason(1, 1, False, 1.0) == "crashed once (exit code 1); next start in 1 s"
    assert crash_reason(4, 1, False, 8.0) == \
        "crashed 4 times in a row (exit code 1); next start in 8 s"
    assert crash_reason(2, 137, True, 2.0) == \
        "crashed 2 times in a row (out of memory, exit code 137); next start in 2 s"


@pytest.mark.parametrize(("fields", "expected"), [
    ({"status": "running"}, True),
    ({"status": "error", "crash_streak": 2}, True),  # waiting for its next start
    ({"status": "error", "status_reason": ENGINE_UNAVAILABLE}, True),
    ({"status": "error", "status_reason": "the build failed: …"}, False),  # a failed deploy
    ({"status": "deploying"}, False),
    ({"status": "stopped", "desired_status": "stopped"}, False),
    ({"status": "running", "desired_status": "stopped"}, False),  # a stop under way
])
def test_only_what_should_run_and_fell_over_is_the_supervisors(fields: dict,
                                                              expected: bool) -> None:
    assert supervised(project(**fields)) is expected


def test_ten_minutes_up_forgives_the_streak() -> None:
    assert streak_after_crash(project(crash_streak=3, running_since=NOW), NOW) == 4
    almost = NOW - timedelta(minutes=9, seconds=59)
    assert streak_after_crash(project(crash_streak=3, running_since=almost), NOW) == 4
    long_ago = NOW - timedelta(minutes=10)
    assert streak_after_crash(project(crash_streak=3, running_since=long_ago), NOW) == 1
    # SQLite gives datetimes back without a zone.
    naive = long_ago.replace(tzinfo=None)
    assert streak_after_crash(project(crash_streak=3, running_since=naive), NOW) == 1


def test_an_exit_names_its_signal() -> None:
    assert last_exit(None, False, None) is None
    assert last_exit(1, False, NOW).model_dump(mode="json") == {
        "code": 1, "signal": None, "oom_killed": False, "at": "2026-12-01T12:00:00.000Z"}
    assert last_exit(137, True, NOW).signal == "SIGKILL"
    assert last_exit(143, False, NOW).signal == "SIGTERM"
    assert last_exit(255, False, NOW).signal is None
