"""app.json as Dokku reads it (hostd.source.appjson): `//` comments, `formation`, `cron`;
and what hostd refuses because the file is the repository owner's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hostd.source.appjson import (
    APP_JSON_CAP_BYTES,
    QUANTITY_MAX,
    AppJsonError,
    CronJob,
    parse,
    read,
    strip_line_comments,
    valid_schedule,
)
from hostd.source.checkout import Checkout, UnsafeCheckout
from tests.source.trees import linked_out

DOKKU_STYLE = b"""{
  // the sample app's processes
  "name": "python-sample", // a trailing comment
  "website": "https://example.com/a//b",
  "formation": {
    "web": {"quantity": 2, "max_parallel": 1},
    "worker": {"quantity": 1},
    "custom": {"autoscaling": {}}
  },
  "cron": [
    {"command": "python task.py", "schedule": "*/5 * * * *"},
    {"command": "./nightly", "schedule": "@daily", "concurrency_policy": "forbid",
     "maintenance": false}
  ]
}
"""


def test_formation_and_cron_are_read_with_comments_and_unknown_keys_ignored() -> None:
    app = parse(DOKKU_STYLE)
    assert app.formation == {"web": 2, "worker": 1}  # `custom` has no quantity: default
    assert app.cron == [CronJob("python task.py", "*/5 * * * *", "allow"),
                        CronJob("./nightly", "@daily", "forbid")]


def test_a_job_in_maintenance_is_read_so() -> None:
    app = parse(b'{"cron": [{"command": "x", "schedule": "@daily", "maintenance": true}]}')
    assert app.cron == [CronJob("x", "@daily", "allow", maintenance=True)]


def test_comments_are_cut_outside_strings_only() -> None:
    text = '{"url": "http://x//y", "q": "say \\"//no\\"", // gone\n"n": 1}'
    assert strip_line_comments(text) == '{"url": "http://x//y", "q": "say \\"//no\\"", \n"n": 1}'


def test_an_app_json_without_those_fields_has_none() -> None:
    app = parse(b'{"name": "x"}')
    assert app.formation == {} and app.cron == []


@pytest.mark.parametrize(("data", "says"), [
    (b"{nope", "app.json is not JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"[" * 100_000, "nested too deep"),
    (b'{"a": "\xff"}', "not UTF-8"),
    (b'{"formation": []}', "`formation` must be an object"),
    (b'{"formation": {"web": 3}}', "`formation.web` must be an object"),
    (b'{"formation": {"we b": {"quantity": 1}}}', "is not a process type name"),
    (b'{"formation": {"web": {"quantity": -1}}}', "`formation.web.quantity`"),
    (b'{"formation": {"web": {"quantity": "2"}}}', "`formation.web.quantity`"),
    (b'{"formation": {"web": {"quantity": true}}}', "`formation.web.quantity`"),
    (b'{"formation": {"web": {"quantity": %d}}}' % (QUANTITY_MAX + 1),
     "`formation.web.quantity`"),
    (b'{"cron": {}}', "`cron` must be a list"),
    (b'{"cron": [{"schedule": "@daily"}]}', "`cron[0].command`"),
    (b'{"cron": [{"command": "x", "schedule": "61 * * * *"}]}', "`cron[0].schedule`"),
    (b'{"cron": [{"command": "x\\u0000y", "schedule": "@daily"}]}', "`cron[0].command`"),
    (b'{"cron": [{"command": "x", "schedule": "@daily", "concurrency_policy": "queue"}]}',
     "`cron[0].concurrency_policy`"),
    (b'{"cron": [{"command": "x", "schedule": "@daily", "maintenance": "yes"}]}',
     "`cron[0].maintenance`"),
])
def test_a_bad_app_json_is_refused_naming_the_field(data: bytes, says: str) -> None:
    with pytest.raises(AppJsonError, match=re.escape(says)):
        parse(data)


@pytest.mark.parametrize("schedule", [
    "* * * * *", "0 1 * * *", "*/15 0-6 1,15 JAN-mar mon-FRI", "5 4 * * 7", "@hourly",
    "@Weekly", "0  3 * *  *"])
def test_cron_schedules_dokku_accepts(schedule: str) -> None:
    assert valid_schedule(schedule)


@pytest.mark.parametrize("schedule", [
    "", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
    "* * * * 8", "5-1 * * * *", "*/0 * * * *", "@reboot", "* * * * MOON", "¹ * * * *",
    "*/" + "9" * 5000 + " * * * *", "0 1 * * *; rm -rf /"])
def test_cron_schedules_refused(schedule: str) -> None:
    assert not valid_schedule(schedule)


def test_app_json_is_read_from_the_checkout_never_through_a_link(tmp_path: Path) -> None:
    assert read(Checkout(tmp_path)) is None
    repo = linked_out(tmp_path, "app.json", '{"formation": {"web": {"quantity": 1}}}')
    with pytest.raises(UnsafeCheckout, match="symbolic link"):
        read(repo)


def test_a_huge_app_json_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    (tmp_path / "app.json").write_bytes(b'{"name": "' + b"x" * APP_JSON_CAP_BYTES + b'"}')
    with pytest.raises(UnsafeCheckout, match="larger than"):
        read(Checkout(tmp_path))
