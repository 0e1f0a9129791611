"""Untrusted repository URLs: address rules, shape rules, git's argv and environment,
and the API refusing what would reach the operator's own network."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError as SettingsError

from hostd.config import Settings
from hostd.control import git
from hostd.store import addresses, localrepo
from hostd.store import validation as v
from tests.support import auth, client_for, register
from tests.test_auth_api import assert_error

TOKEN = "ghp_sEcReT0token0for0tests"


def settings_for(tmp_path: Path, **fields: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **fields)


# --- addresses -----------------------------------------------------------------------------

REFUSED = [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.254", "private"),
    ("192.168.1.1", "private"), ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("169.254.169.254", "link-local"), ("169.254.0.1", "link-local"), ("fe80::1", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"), ("100.127.255.254", "shared (CGNAT)"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),  # noqa: S104 - refused, not bound
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("192.0.0.8", "reserved"),
    ("198.18.0.1", "reserved"), ("2001:db8::1", "reserved"),
    # IPv6 forms that carry one of the above
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"), ("::ffff:100.64.0.1", "shared (CGNAT)"),
    ("::ffff:224.0.0.1", "multicast"), ("::ffff:0.0.0.0", "unspecified"),
    ("::ffff:192.168.0.1", "private"), ("64:ff9b::a00:1", "private"),
    ("2002:7f00:1::1", "loopback"), ("::127.0.0.1", "loopback"),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_address_classes(address, reason):
    assert addresses.refusal(ipaddress.ip_address(address)) == reason
    assert not addresses.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "140.82.112.3",
                                     "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert addresses.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "git.localhost", "127.0.0.1",
                                  "[::1]", "2130706433", "0x7f.1", "[::ffff:a00:1]"])
def test_checked_address_refuses_this_machine_and_numeric_tricks(host):
    with pytest.raises(addresses.AddressRefused):
        addresses.checked_address(host, 443)


def test_checked_address_returns_a_public_literal_and_none_for_no_answer():
    assert addresses.checked_address("8.8.8.8", 443) == ipaddress.ip_address("8.8.8.8")
    assert addresses.checked_address("no-such-host.invalid", 443) is None


def test_resolution_waits_a_bounded_time(monkeypatch):
    def slow(*args: object, **kwargs: object) -> list:
        time.sleep(1.5)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 443))]

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    assert addresses.resolve("slow.example", 443, timeout_s=0.2) == []
    assert time.monotonic() - started < 1.0


def test_one_private_answer_among_public_ones_is_refused(monkeypatch):
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 443))
               for a in ("8.8.8.8", "10.0.0.5")]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    with pytest.raises(addresses.AddressRefused):
        addresses.checked_address("mixed.example", 443)


# --- URL shape -----------------------------------------------------------------------------

METACHARACTERS = [";", "|", "&", "$", "`", "<", ">", "(", ")", "\\", "'", '"', " "]


@pytest.mark.parametrize("char", METACHARACTERS)
def test_metacharacters_are_refused(char):
    with pytest.raises(ValueError, match="metacharacters"):
        v.check_repo_url(f"https://github.com/a/b{char}x", allow_local=True)


@pytest.mark.parametrize(("url", "words"), [
    ("git://example.com/repo.git", "git://"),
    ("http://example.com/repo.git", "HOSTD_ALLOW_PRIVATE_REPOS"),
    ("ext::sh -c x", "metacharacters"),
    ("ssh://git:hunter2@example.com/repo.git", "password"),
])
def test_refused_schemes_say_why(url, words):
    with pytest.raises(ValueError, match=words):
        v.check_repo_url(url, allow_local=False)


def test_credentials_are_parsed_and_stripped():
    repo = v.parse_repo_url("https://alice:p%40ss@git.example.com:8443/a/b.git")
    assert (repo.user, repo.password, repo.host, repo.connect_port) == (
        "alice", "p@ss", "git.example.com", 8443)
    assert repo.without_credentials() == "https://git.example.com:8443/a/b.git"
    scp = v.parse_repo_url("git@github.com:octo/hello.git")
    assert scp.without_credentials() == "git@github.com:octo/hello.git"


def test_redact_hides_every_userinfo_but_sshs_bare_user():
    for url, shown in [
        (f"https://{TOKEN}@github.com/a/b.git", "https://***@github.com/a/b.git"),
        (f"https://me:{TOKEN}@github.com/a/b.git", "https://***@github.com/a/b.git"),
        (f"http://a:b@c{TOKEN}@h/x", "http://***@h/x"),  # up to the last @, not the first
        ("ssh://git@github.com/a/b.git", "ssh://git@github.com/a/b.git"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
    ]:
        assert git.redact(url) == shown
    assert git.redact(f"fatal: no {TOKEN} here", (TOKEN,)) == "fatal: no *** here"


# --- git's argv and environment ------------------------------------------------------------


def test_clone_command_keeps_the_token_out_of_argv(tmp_path, monkeypatch):
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    monkeypatch.setenv("HTTPS_PROXY", "http://leak.example:3128")
    monkeypatch.setenv("GIT_DIR", "/etc")
    home = tmp_path / "home"
    url = f"https://me:{TOKEN}@github.com/a/b.git"
    cmd = git.clone_command(url, tmp_path / "dest", settings_for(tmp_path), home)
    assert not any(TOKEN in arg for arg in cmd.argv)
    assert "https://github.com/a/b.git" in cmd.argv
    assert cmd.argv.index("--") == cmd.argv.index("https://github.com/a/b.git") - 1
    for option in ("credential.helper=", "http.followRedirects=false"):
        assert cmd.argv[cmd.argv.index(option) - 1] == "-c"
    env = cmd.env
    assert env["HOME"] == str(home) != str(Path.home())
    assert not {"SSH_AUTH_SOCK", "HTTPS_PROXY", "GIT_DIR"} & set(env)
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null" and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["LANG"] == "C"
    assert env["GIT_ALLOW_PROTOCOL"] == "https:ssh"
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    assert TOKEN in git.base64.b64decode(env["GIT_CONFIG_VALUE_0"].split()[-1]).decode()


def test_ssh_command_has_no_identity_and_hostd_known_hosts(tmp_path):
    settings = settings_for(tmp_path)
    cmd = git.clone_command("git@example.com:a/b.git", tmp_path / "d", settings, tmp_path,
                            pinned=ipaddress.ip_address("140.82.112.3"))
    ssh = cmd.env["GIT_SSH_COMMAND"].split()
    for option in ("IdentitiesOnly=yes", "IdentityFile=none", "BatchMode=yes",
                   "StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null",
                   f"UserKnownHostsFile={settings.known_hosts_file}",
                   "HostName=140.82.112.3", "HostKeyAlias=example.com"):
        assert option in ssh
    assert ssh[:3] == ["ssh", "-F", "/dev/null"]


def test_protocols_proxy_and_pin_follow_the_settings(tmp_path):
    url = "https://git.example.com/a/b.git"
    pin = ipaddress.ip_address("140.82.112.3")
    plain = git.clone_command(url, tmp_path / "d", settings_for(tmp_path), tmp_path, pin)
    assert "http.curloptResolve=git.example.com:443:140.82.112.3" in plain.argv
    assert "GIT_CONFIG_COUNT" not in plain.env
    loose = settings_for(tmp_path, allow_local_repos=True, allow_private_repos=True,
                         git_proxy="http://u:pw@proxy.example:3128")
    cmd = git.clone_command(url, tmp_path / "d", loose, tmp_path)
    assert cmd.env["GIT_ALLOW_PROTOCOL"] == "https:ssh:http:file"
    proxy = (cmd.env["GIT_CONFIG_KEY_0"], cmd.env["GIT_CONFIG_VALUE_0"])
    assert proxy == ("http.proxy", "http://u:pw@proxy.example:3128")
    assert not any("pw" in arg for arg in cmd.argv)


def test_clone_time_check_refuses_and_pins(tmp_path, monkeypatch):
    settings = settings_for(tmp_path)
    with pytest.raises(git.CloneFailed, match="public address"):
        git.pinned_address("https://127.0.0.1/a/b.git", settings)
    with pytest.raises(git.CloneFailed, match="could not reach the repository"):
        git.pinned_address("https://no-such-host.invalid/a/b.git", settings)
    answer = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("140.82.112.3", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answer)
    assert str(git.pinned_address("https://git.example.com/a", settings)) == "140.82.112.3"
    proxied = settings_for(tmp_path, git_proxy="http://proxy.example:3128")
    assert git.pinned_address("https://git.example.com/a", proxied) is None


# --- through the real daemon ---------------------------------------------------------------

REFUSED_HOSTS = ["127.0.0.1", "localhost", "10.0.0.7", "172.16.5.4", "192.168.1.20",
                 "169.254.169.254", "100.64.1.1", "[::1]", "[fc00::1]",
                 "0.0.0.0", "224.0.0.1",  # noqa: S104 - refused, not bound
                 "[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]"]


def _post(client, user, url: str):
    name = f"url-{uuid.uuid4().hex[:8]}"
    resp = client.post("/api/projects", headers=user["headers"],
                       json={"name": name, "github_url": url, "template": "static"})
    return resp, name


def _stored_names(client, user) -> set[str]:
    projects = client.get("/api/projects", headers=user["headers"]).json()["projects"]
    return {p["name"] for p in projects}


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_api_refuses_non_public_repository_hosts(client, user, host):
    resp, name = _post(client, user, f"https://{host}/owner/repo.git")
    message = assert_error(resp, 400, "ValidationError")["message"]
    assert "public address" in message and "HOSTD_ALLOW_PRIVATE_REPOS=true" in message
    assert "127.0.0.1" not in message or host == "127.0.0.1"  # what a name resolved to: never
    assert name not in _stored_names(client, user)


@pytest.mark.parametrize("char", METACHARACTERS + ["\t"])
def test_api_refuses_metacharacters(client, user, char):
    resp, name = _post(client, user, f"https://github.com/a/b{char}touch")
    assert "metacharacters" in assert_error(resp, 400, "ValidationError")["message"]
    assert name not in _stored_names(client, user)


@pytest.mark.parametrize("url", ["git://github.com/a/b.git", f"http://{TOKEN}@127.0.0.1:9/r.git",
                                 "ssh://localhost/a/b.git", "git@127.0.0.1:a/b.git"])
def test_api_refuses_schemes_and_private_ssh(client, user, url):
    resp, name = _post(client, user, url)
    message = assert_error(resp, 400, "ValidationError")["message"]
    assert "HOSTD_ALLOW_PRIVATE_REPOS" in message or "git://" in message
    assert TOKEN not in resp.text
    assert name not in _stored_names(client, user)


def test_api_never_shows_a_urls_credentials(client, user):
    resp, name = _post(client, user, f"https://me:{TOKEN}@github.com/octo/hello.git")
    assert resp.status_code == 201, resp.text
    project = resp.json()["project"]
    assert project["github_url"] == "https://***@github.com/octo/hello.git"
    shown = client.get(f"/api/projects/{project['id']}", headers=user["headers"])
    listed = client.get("/api/projects", headers=user["headers"])
    for answer in (resp, shown, listed):
        assert TOKEN not in answer.text and "me:" not in answer.text
    assert name in _stored_names(client, user)


# --- local repositories: only under HOSTD_LOCAL_REPOS_ROOT ---------------------------------

def git_repo(path: Path) -> Path:
    """A real repository with one commit at `path`."""
    path.mkdir(parents=True)
    (path / "index.html").write_text("hi\n")
    run = ["git", "-C", str(path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "one"]):
        subprocess.run([*run, *args], check=True, capture_output=True)
    return path


@pytest.fixture
def repos(tmp_path: Path) -> dict[str, Path]:
    """A root with a repository, a link in it to a repository outside, and that one."""
    root = tmp_path / "repos"
    inside = git_repo(root / "site")
    outside = git_repo(tmp_path / "private" / "secret")
    (root / "escape").symlink_to(outside)
    return {"root": root, "inside": inside, "outside": outside}


def test_local_paths_are_confined_to_the_root(repos):
    root = repos["root"]
    assert localrepo.confined(f"file://{repos['inside']}", root) == f"file://{repos['inside']}"
    assert localrepo.confined(str(root / "not-yet"), root) == f"file://{root / 'not-yet'}"
    for url in ("file:///etc", "/etc", f"file://{root}/../private/secret",
                f"file://{root}/site/../../private/secret", f"file://{root}/escape",
                f"file://{root}/%2e%2e/private/secret", f"{root}-sibling/x"):
        with pytest.raises(ValueError, match="HOSTD_LOCAL_REPOS_ROOT"):
            localrepo.confined(url, root)
    with pytest.raises(ValueError, match="need HOSTD_LOCAL_REPOS_ROOT"):
        localrepo.confined(f"file://{repos['inside']}", None)


def test_the_clone_checks_the_real_path_again(repos, tmp_path):
    settings = settings_for(tmp_path / "data", allow_local_repos=True,
                            local_repos_root=repos["root"])
    commit = git.shallow_clone(f"file://{repos['inside']}", tmp_path / "ok", settings)
    assert len(commit) == 40 and (tmp_path / "ok" / "index.html").is_file()
    # A link made (or moved) after the project was accepted leads nowhere outside.
    with pytest.raises(git.CloneFailed, match="HOSTD_LOCAL_REPOS_ROOT"):
        git.shallow_clone(f"file://{repos['root']}/escape", tmp_path / "no", settings)
    assert not (tmp_path / "no").exists()
    unset = settings_for(tmp_path / "data", allow_local_repos=True)
    with pytest.raises(git.CloneFailed, match="HOSTD_LOCAL_REPOS_ROOT"):
        git.shallow_clone(f"file://{repos['inside']}", tmp_path / "no", unset)


def test_api_accepts_local_repositories_only_under_the_root(make_hostd, repos):
    confined = make_hostd(HOSTD_LOCAL_REPOS_ROOT=str(repos["root"]))
    unset = make_hostd(HOSTD_LOCAL_REPOS_ROOT="")
    with client_for(confined) as client, client_for(unset) as other:
        user = {"headers": auth(register(client)[0])}
        for url in ("file:///etc", "/etc/ssl", f"file://{repos['outside']}",
                    f"file://{repos['root']}/escape", f"file://{repos['root']}/../private/secret"):
            resp, name = _post(client, user, url)
            message = assert_error(resp, 400, "ValidationError")["message"]
            assert message.startswith("github_url ") and "HOSTD_LOCAL_REPOS_ROOT" in message
            assert str(repos["root"]) not in message  # the operator's path stays theirs
            assert name not in _stored_names(client, user)
        resp, _ = _post(client, user, f"file://{repos['inside']}")
        assert resp.status_code == 201, resp.text
        someone = {"headers": auth(register(other)[0])}
        resp, _ = _post(other, someone, f"file://{repos['inside']}")
        assert "need HOSTD_LOCAL_REPOS_ROOT" in assert_error(resp, 400,
                                                             "ValidationError")["message"]


def test_the_root_must_be_an_absolute_path(tmp_path):
    with pytest.raises(SettingsError, match="absolute"):
        settings_for(tmp_path, local_repos_root="repos")
