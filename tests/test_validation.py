"""Pure shape rules (hostd/store/validation.py): no server needed."""

from __future__ import annotations

import pytest

from hostd.store import validation as v


@pytest.mark.parametrize(("raw", "expected"), [
    ("alice@example.com", "alice@example.com"),
    ("  Alice@Example.COM \n", "alice@example.com"),
    ("Bob.Smith+x@A.com", "bob.smith+x@a.com"),
])
def test_email_is_trimmed_and_lower_cased(raw, expected):
    assert v.normalize_email(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "   ", "alice", "alice@", "@example.com", "alice@example", "a b@example.com",
    "a@b@example.com", "alice\x00@example.com", "x" * 250 + "@example.com",
])
def test_bad_emails_are_refused(raw):
    with pytest.raises(ValueError):
        v.normalize_email(raw)


def test_person_name_collapses_whitespace_and_has_limits():
    assert v.normalize_person_name("  Ada \t Lovelace ") == "Ada Lovelace"
    assert v.normalize_person_name("x" * 100) == "x" * 100
    for bad in ("", "   ", "x" * 101, "Ada\x07"):
        with pytest.raises(ValueError):
            v.normalize_person_name(bad)


def test_password_is_6_to_72_bytes():
    assert v.check_password("123456") == "123456"
    assert v.check_password("x" * 72) == "x" * 72
    assert v.check_password("é" * 36) == "é" * 36  # 72 bytes in UTF-8
    with pytest.raises(ValueError, match="at least 6"):
        v.check_password("12345")
    with pytest.raises(ValueError, match="bcrypt"):
        v.check_password("x" * 73)
    with pytest.raises(ValueError, match="bcrypt"):
        v.check_password("é" * 37)  # 37 characters, 74 bytes


@pytest.mark.parametrize("name", ["a", "app", "my-app-2", "0", "a" * 40, "a-b"])
def test_project_names_that_are_dns_labels(name):
    assert v.check_project_name(name) == name


@pytest.mark.parametrize("name", [
    "", "-app", "app-", "App", "my_app", "my.app", "a" * 41, "my app", "ápp", "app\n",
])
def test_project_names_that_are_not(name):
    with pytest.raises(ValueError, match="DNS label"):
        v.check_project_name(name)


@pytest.mark.parametrize("url", [
    "https://github.com/owner/repo",
    "https://github.com/owner/repo.git",
    "ssh://git@github.com/owner/repo.git",
    "git@github.com:owner/repo.git",
])
def test_remote_repo_urls(url):
    assert v.check_repo_url(url, allow_local=False) == url


def test_plain_http_only_for_private_repos():
    url = "http://git.example.com:8080/owner/repo"
    assert v.check_repo_url(url, allow_local=False, allow_private=True) == url
    with pytest.raises(ValueError, match="HOSTD_ALLOW_PRIVATE_REPOS"):
        v.check_repo_url(url, allow_local=False)


@pytest.mark.parametrize("url", [
    "", "github.com/owner/repo", "ftp://example.com/repo", "https://github.com",
    "https://github.com/", "-uhttps://evil/x", "--upload-pack=touch /tmp/x",
    "https://github.com/a/b\x00", "ext::sh -c touch% /tmp/pwned", "https://" + "a" * 2050,
    "git://example.com/repo", "  https://github.com/owner/repo  ",
])
def test_bad_repo_urls(url):
    with pytest.raises(ValueError):
        v.check_repo_url(url, allow_local=True)


@pytest.mark.parametrize("url", ["file:///srv/repo", "/srv/repo", "file:///tmp/x.git"])
def test_local_repos_only_when_allowed(url):
    assert v.check_repo_url(url, allow_local=True) == url
    with pytest.raises(ValueError, match="HOSTD_ALLOW_LOCAL_REPOS"):
        v.check_repo_url(url, allow_local=False)


def test_relative_local_paths_are_refused_even_when_allowed():
    with pytest.raises(ValueError, match="absolute"):
        v.check_repo_url("./repo", allow_local=True)


@pytest.mark.parametrize(("email", "handle"), [
    ("bob.smith+x@a.com", "bob-smith-x"),
    ("bob@a.com", "bob"),
    ("Zoë_Ünal@a.com", "zoe-unal"),
    ("...@a.com", "user"),
    ("日本@a.com", "user"),
])
def test_handle_base(email, handle):
    assert v.handle_base(email) == handle


def test_handle_base_is_a_bounded_dns_label():
    handle = v.handle_base("a" * 29 + "-" + "b" * 40 + "@a.com")
    assert len(handle) <= v.HANDLE_MAX
    assert not handle.endswith("-")


def test_handle_candidates():
    assert v.handle_candidate("bob", 1) == "bob"
    assert v.handle_candidate("bob", 2) == "bob-2"
    assert v.handle_candidate("bob", 17) == "bob-17"
    long = "x" * v.HANDLE_MAX
    assert v.handle_candidate(long, 12) == "x" * (v.HANDLE_MAX - 3) + "-12"
