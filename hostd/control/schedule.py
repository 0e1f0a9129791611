"""A cron job's times: its schedule's next time after an instant, the latest at or before
one, and the times in between, in UTC (the host's clock).

The schedules are app.json's (hostd.source.appjson checks their shape): five fields, read
by cronsim (healthchecks.io's cron engine: Debian cron's rules, a day-of-month and a
day-of-week both restricted match either), or one of Vixie cron's macros, which cronsim
does not read and which are spelled out here as cron defines them.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
COUNT_MAX = 10_000  # times counted between two instants, at most (a minute job: a week)


class BadSchedule(ValueError):
    """A schedule cron can't run (no time ever matches it, or a field out of range)."""


def expression(schedule: str) -> str:
    """The five fields of `schedule` (a macro spelled out)."""
    return MACROS.get(schedule.strip().lower(), schedule)


def check(schedule: str) -> None:
    """BadSchedule unless `schedule` has a next time (from now)."""
    next_after(schedule, datetime.now(UTC))


def next_after(schedule: str, after: datetime) -> datetime:
    """The first time strictly after `after` (whole minutes, UTC)."""
    try:
        return _aware(next(CronSim(expression(schedule), after.astimezone(UTC))))
    except (CronSimError, StopIteration) as exc:
        raise BadSchedule(f"no time matches {schedule!r}: {exc or 'never in 50 years'}") from None


def latest_at_or_before(schedule: str, at: datetime) -> datetime | None:
    """The last time at or before `at`, None when none is within cron's 50 years."""
    at = at.astimezone(UTC)
    try:
        # Reversed, cronsim starts one second before `at`: a time exactly at `at` counts.
        start = at.replace(microsecond=0) + timedelta(seconds=1)
        return _aware(next(CronSim(expression(schedule), start, reverse=True)))
    except (CronSimError, StopIteration):
        return None


def times_between(schedule: str, after: datetime, until: datetime) -> int:
    """How many times fall in (after, until], counted up to COUNT_MAX."""
    try:
        times = CronSim(expression(schedule), after.astimezone(UTC))
        due = itertools.takewhile(lambda t: _aware(t) <= until, times)
        return sum(1 for _ in itertools.islice(due, COUNT_MAX))
    except CronSimError:
        return 0


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

