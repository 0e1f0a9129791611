"""A repository's `app.json`, read as Dokku reads it: what issue 26 needs of it.

Dokku's format (dokku.com/docs/appendices/file-formats/app-json, based on Heroku's):

* `formation`: `{"worker": {"quantity": 1}}` → `{"worker": 1}` — a process type's first
  scale. `quantity` is optional (a type without one is left out: the default applies,
  1 for `web`, 0 for the others); every other key (`max_parallel`, `autoscaling`,
  `service`…) is ignored.
* `cron`: `[{"command": …, "schedule": …, "concurrency_policy": …}]` — `command` and
  `schedule` required, `concurrency_policy` one of allow (the default) | forbid | replace,
  `maintenance` a boolean (true: the job is suspended, not run at its times); other keys
  ignored. A schedule is five fields (minute hour day-of-month
  month day-of-week, names allowed for months and days) or a macro (`@daily`…), as
  Dokku's docs show; seconds are not supported (Dokku: "generally not supported").

The file is JSON that may carry `//` line comments (Dokku's own examples do). They are cut
outside strings only (a `"https://…"` keeps its `//`), each replaced by nothing up to the
end of its line, and the rest is `json.loads`'s. Read through a Checkout (regular file,
never through a link, size counted first); a command is only stored, later given to
`sh -c` inside the app's own container.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hostd.source.checkout import Checkout, UnsafeCheckout

APP_JSON = "app.json"
APP_JSON_CAP_BYTES = 256 * 1024
QUANTITY_MAX = 20  # replicas of one type an app.json may ask for
CRON_JOBS_MAX = 50
COMMAND_MAX = 4096
POLICIES = ("allow", "forbid", "replace")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")  # a process type, as hostd.source.procfile


class AppJsonError(UnsafeCheckout):
    """An app.json hostd can't read; the message (the deploy's reason) names the field.
    An UnsafeCheckout, so every place that turns those into a deploy's reason takes it."""


@dataclass(frozen=True)
class CronJob:
    command: str
    schedule: str
    concurrency_policy: str = "allow"
    maintenance: bool = False  # Dokku's: suspended, run only by hand


@dataclass(frozen=True)
class AppJson:
    formation: dict[str, int]
    cron: list[CronJob]


def read(repo: Checkout) -> AppJson | None:
    """The repository's app.json, None when it has none. Raises UnsafeCheckout (a link,
    not a regular file, too big) or AppJsonError."""
    data = repo.read_bytes(APP_JSON, APP_JSON_CAP_BYTES)
    return None if data is None else parse(data)


def parse(data: bytes) -> AppJson:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AppJsonError("app.json is not UTF-8 text") from None
    try:
        document = json.loads(strip_line_comments(text))
    except (ValueError, RecursionError) as exc:  # RecursionError: `[[[[…` nested deep
        raise AppJsonError(f"app.json is not JSON: {_reason(exc)}") from None
    if not isinstance(document, dict):
        raise AppJsonError("app.json must be a JSON object")
    return AppJson(formation=formation(document.get("formation")),
                   cron=cron_jobs(document.get("cron")))


def strip_line_comments(text: str) -> str:
    """`text` without its `//` comments, a string's contents left alone."""
    out: list[str] = []
    start = i = 0
    in_string = False
    while i < len(text):
        char = text[i]
        if in_string:
            if char == "\\":
                i += 1  # the escaped character is the string's, whatever it is
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif text.startswith("//", i):
            out.append(text[start:i])
            end = text.find("\n", i)
            i = start = len(text) if end < 0 else end
            continue
        i += 1
    out.append(text[start:])
    return "".join(out)


def formation(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AppJsonError("app.json `formation` must be an object of process types")
    scales: dict[str, int] = {}
    for name, entry in value.items():
        if not _NAME.fullmatch(name):
            raise AppJsonError(f"app.json `formation`: {name[:70]!r} is not a process type "
                               "name (letters, digits, `_`, `-`, at most 63)")
        if not isinstance(entry, dict):
            raise AppJsonError(f"app.json `formation.{name}` must be an object")
        quantity = entry.get("quantity")
        if quantity is None:
            continue
        if type(quantity) is not int or not 0 <= quantity <= QUANTITY_MAX:
            raise AppJsonError(f"app.json `formation.{name}.quantity` must be a whole "
                               f"number from 0 to {QUANTITY_MAX}")
        scales[name] = quantity
    return scales


def cron_jobs(value: Any) -> list[CronJob]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AppJsonError("app.json `cron` must be a list of {command, schedule}")
    if len(value) > CRON_JOBS_MAX:
        raise AppJsonError(f"app.json `cron` has more than {CRON_JOBS_MAX} jobs")
    return [_cron_job(entry, f"cron[{index}]") for index, entry in enumerate(value)]


def _cron_job(entry: Any, where: str) -> CronJob:
    if not isinstance(entry, dict):
        raise AppJsonError(f"app.json `{where}` must be an object {{command, schedule}}")
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        raise AppJsonError(f"app.json `{where}.command` must be a non-empty string")
    if len(command) > COMMAND_MAX or "\0" in command:
        raise AppJsonError(f"app.json `{where}.command` is longer than {COMMAND_MAX} "
                           "characters or holds a NUL")
    schedule = entry.get("schedule")
    if not isinstance(schedule, str) or not valid_schedule(schedule):
        raise AppJsonError(f"app.json `{where}.schedule` must be a cron schedule: five "
                           "fields (minute hour day month weekday) or @hourly, @daily…")
    policy = entry.get("concurrency_policy", "allow")
    if policy not in POLICIES:
        raise AppJsonError(f"app.json `{where}.concurrency_policy` must be one of "
                           f"{', '.join(POLICIES)}")
    maintenance = entry.get("maintenance", False)
    if not isinstance(maintenance, bool):
        raise AppJsonError(f"app.json `{where}.maintenance` must be true or false")
    return CronJob(command=command.strip(), schedule=" ".join(schedule.split()),
                   concurrency_policy=policy, maintenance=maintenance)


def _reason(exc: Exception) -> str:
    return "nested too deep" if isinstance(exc, RecursionError) else str(exc)[:200]


# --- schedules: the shape only (a cron library would check more; see the report) --

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# Each field: its lowest and highest number, and the names it takes (numbered from low).
_FIELDS: list[tuple[int, int, list[str]]] = [
    (0, 59, []), (0, 23, []), (1, 31, []), (1, 12, _MONTHS), (0, 7, _DAYS)]
_PART = re.compile(r"(\*|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:/([0-9]{1,2}))?")


def valid_schedule(schedule: str) -> bool:
    fields = schedule.split()
    if len(fields) == 1:
        return fields[0].lower() in MACROS
    return len(fields) == 5 and all(
        _valid_field(field, *bounds) for field, bounds in zip(fields, _FIELDS, strict=True))


def _valid_field(field: str, low: int, high: int, names: list[str]) -> bool:
    for part in field.split(","):
        match = _PART.fullmatch(part)
        if match is None:
            return False
        first, last, step = match.group(2), match.group(3), match.group(4)
        values = [_value(v, low, high, names) for v in (first, last) if v is not None]
        numbers = [v for v in values if v is not None]
        if len(numbers) != len(values) or numbers != sorted(numbers):
            return False
        if step is not None and not 1 <= int(step) <= high:
            return False
    return True


def _value(text: str, low: int, high: int, names: list[str]) -> int | None:
    if text.upper() in names:
        return low + names.index(text.upper())
    if text.isascii() and text.isdigit() and len(text) <= 2 and low <= int(text) <= high:
        return int(text)
    return None
