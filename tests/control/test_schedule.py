"""A cron job's times (hostd.control.schedule, on cronsim), its id, and the bound on the
output a run keeps (hostd.control.cron_runs.bounded_tail): pure functions, no daemon."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hostd.control import schedule
from hostd.control.cron_release import jobs_of
from hostd.control.cron_runs import bounded_tail
from hostd.control.job import StepFailed
from hostd.source.appjson import CronJob
from hostd.store.cron import job_id


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("cron", "after", "expected"), [
    ("* * * * *", "2026-12-07 23:59:30", "2026-12-08 00:00"),
    ("* * * * *", "2026-12-07 23:59:00", "2026-12-08 00:00"),  # strictly after
    ("*/15 9-17 * * MON-FRI", "2026-12-05 12:00", "2026-12-07 09:00"),  # a Saturday
    ("0 0 1 * *", "2026-12-07 00:00", "2027-01-01 00:00"),
    ("@daily", "2026-12-07 10:00", "2026-12-08 00:00"),
    ("@hourly", "2026-12-07 10:00", "2026-12-07 11:00"),
    ("@weekly", "2026-12-07 10:00", "2026-12-13 00:00"),  # Sunday
    ("@yearly", "2026-12-07 10:00", "2027-01-01 00:00"),
    ("0 12 13 * FRI", "2026-12-07 00:00", "2026-12-11 12:00"),  # either day field matches
])
def test_the_next_time_is_cron_s_in_utc(cron: str, after: str, expected: str) -> None:
    assert schedule.next_after(cron, at(after)) == at(expected)


def test_the_latest_time_and_the_times_between() -> None:
    now = at("2026-12-07 12:03:10")
    assert schedule.latest_at_or_before("* * * * *", now) == at("2026-12-07 12:03")
    assert schedule.latest_at_or_before("* * * * *", at("2026-12-07 12:03")) == \
        at("2026-12-07 12:03"), "a time exactly now counts"
    assert schedule.latest_at_or_before("@daily", now) == at("2026-12-07 00:00")
    assert schedule.times_between("* * * * *", at("2026-12-07 11:58"), now) == 5
    assert schedule.times_between("@daily", at("2026-12-07 11:58"), now) == 0


def test_a_schedule_no_time_matches_is_refused() -> None:
    with pytest.raises(schedule.BadSchedule, match="no time matches"):
        schedule.check("0 0 31 2 *")
    with pytest.raises(StepFailed, match=r"cron\[1\].schedule"):
        jobs_of([CronJob("./a", "@daily"), CronJob("./b", "0 0 30 2 *")])


def test_a_job_id_is_stable_short_and_a_repeat_is_refused() -> None:
    assert job_id("./a", "@daily") == job_id("./a", "@daily")
    assert job_id("./a", "@daily") != job_id("./a", "@hourly")
    assert len(job_id("./a", "@daily")) == 8
    (one,) = jobs_of([CronJob("./a", "@daily", "forbid")])
    assert (one.id, one.concurrency_policy) == (job_id("./a", "@daily"), "forbid")
    with pytest.raises(StepFailed, match=r"cron\[1\]` repeats `cron\[0\]"):
        jobs_of([CronJob("./a", "@daily"), CronJob("./a", "@daily", "forbid")])


def test_a_runs_kept_output_is_its_newest_whole_lines_within_the_bound() -> None:
    assert bounded_tail(["one", "two", "three"], 100) == "one\ntwo\nthree"
    assert bounded_tail(["one", "two", "three"], 9) == "three"
    assert bounded_tail(["x" * 50], 8) == "x" * 8
    assert bounded_tail(["é" * 10], 5) == "éé"  # never half a character
    assert bounded_tail([], 10) == ""
