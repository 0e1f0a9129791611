"""HOSTD_APPS_DOMAIN in the router: `<project>.<handle>.<apps domain>` names a project as
`<project>.<handle>.localhost` does, in any case, with a port or one trailing dot; any
other shape (more or fewer labels, the domain alone, another domain) names nothing."""

from __future__ import annotations

import pytest

from hostd.router.table import parse_host

DOMAIN = "apps.example.test"


@pytest.mark.parametrize("host", [
    "site.alice.apps.example.test", "SITE.Alice.APPS.example.TEST",
    "site.alice.apps.example.test:80",
    "site.alice.apps.example.test:8080", "site.alice.apps.example.test.",
    "site.alice.apps.example.test.:8080", " site.alice.apps.example.test ",
])
def test_a_project_name_under_the_apps_domain(host):
    assert parse_host(host, DOMAIN) == ("site", "alice")


def test_localhost_names_still_work_with_an_apps_domain():
    assert parse_host("site.alice.localhost:8080", DOMAIN) == ("site", "alice")
    assert parse_host("site.alice.localhost:8080") == ("site", "alice")


@pytest.mark.parametrize("host", [
    "apps.example.test", "apps.example.test:8080", "alice.apps.example.test",
    "x.site.alice.apps.example.test", ".alice.apps.example.test", "site..apps.example.test",
    "site.alice.apps.example.test..", "site.alice.example.test", "site.alice.xapps.example.test",
    "site.alice.apps.example.test.evil.example", "site.hostd.apps.example.test",
    "site.alice.apps.example", "127.0.0.1:8080", "[::1]:8080",
])
def test_any_other_shape_names_nothing(host):
    assert parse_host(host, DOMAIN) is None


def test_without_an_apps_domain_its_names_are_nothing():
    assert parse_host("site.alice.apps.example.test") is None
