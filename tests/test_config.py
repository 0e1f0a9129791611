"""Settings: durations, defaults, the secret file, and start-up refusing bad settings."""

from __future__ import annotations

import os
import stat

import pytest
from pydantic import ValidationError

from hostd.config import (
    Settings,
    default_router_workers,
    describe_settings_error,
    parse_duration,
    split_host,
)
from tests.support import HostdServer


@pytest.mark.parametrize(("raw", "seconds"), [
    ("7d", 7 * 86400), ("12h", 12 * 3600), ("30m", 1800), ("45s", 45), ("3600", 3600),
    (" 2h ", 7200), (3600, 3600),
])
def test_parse_duration(raw, seconds):
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["", "0", "0s", "-5", "7x", "1.5h", "h", "7 days", 0, -1])
def test_parse_duration_refuses(raw):
    with pytest.raises(ValueError):
        parse_duration(raw)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """Settings read only what a test sets: no .env, no inherited HOSTD_/JWT_ variables."""
    monkeypatch.chdir(tmp_path)
    for name in ("PORT", "HOST", "JWT_SECRET", "JWT_EXPIRES_IN", "DATABASE_URL", "FRONTEND_URL",
                 "HOSTD_DATA_DIR", "HOSTD_ROUTER_PORT", "HOSTD_ALLOW_LOCAL_REPOS",
                 "BCRYPT_ROUNDS", "HOSTD_MAX_BODY_BYTES", "HOSTD_ROUTER_WORKERS",
                 "HOSTD_ALLOWED_HOSTS", "HOSTD_ROUTER_HOST", "HOSTD_APPS_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOSTD_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def test_defaults(clean_env, tmp_path):
    s = Settings()
    assert (s.port, s.host, s.router_port) == (3000, "127.0.0.1", 8080)
    assert s.jwt_expires_in == 7 * 86400
    assert s.jwt_secret is None
    assert s.allow_local_repos is False
    assert s.bcrypt_rounds == 12
    assert s.max_body_bytes == 1024 * 1024
    assert s.frontend_url is None
    assert s.allowed_hosts == ()
    assert (s.router_host, s.apps_domain) == ("127.0.0.1", None)  # loopback, *.localhost
    assert s.database_uri == f"sqlite:///{tmp_path / 'data' / 'hostd.db'}"


def test_limit_defaults(clean_env):
    s = Settings()
    physical_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    assert (s.max_projects_per_user, s.max_memory_mb_per_user, s.max_streams_per_user) == (
        100, physical_mb, 10)
    assert (s.registration, s.local_repos_root) == ("open", None)
    assert (s.router_connections_per_project, s.router_tunnels_per_project,
            s.tunnel_idle_timeout_s) == (256, 64, 300)
    assert (s.container_log_mb, s.container_log_files, s.container_tmp_mb) == (10, 3, 64)
    clean_env.setenv("HOSTD_TUNNEL_IDLE_TIMEOUT", "5m")
    clean_env.setenv("HOSTD_MAX_PROJECTS_PER_USER", "0")  # 0: no limit
    s = Settings()
    assert (s.tunnel_idle_timeout_s, s.max_projects_per_user) == (300, 0)


@pytest.mark.parametrize(("raw", "seconds"), [("7d", 604800), ("12h", 43200), ("30m", 1800),
                                             ("3600", 3600)])
def test_jwt_expires_in_forms(clean_env, raw, seconds):
    clean_env.setenv("JWT_EXPIRES_IN", raw)
    assert Settings().jwt_expires_in == seconds


def test_env_file_in_working_directory_is_read(clean_env, tmp_path):
    (tmp_path / ".env").write_text("PORT=4123\nJWT_EXPIRES_IN=12h\n")
    s = Settings()
    assert (s.port, s.jwt_expires_in) == (4123, 43200)


def test_frontend_url_is_an_origin(clean_env):
    clean_env.setenv("FRONTEND_URL", "http://localhost:5173/")
    assert Settings().frontend_url == "http://localhost:5173"
    clean_env.setenv("FRONTEND_URL", "http://localhost:5173/app")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "FRONTEND_URL" in describe_settings_error(info.value)


def test_allowed_hosts_are_names_with_optional_ports(clean_env):
    clean_env.setenv("HOSTD_ALLOWED_HOSTS", " Hostd.Example, b.example:8443 [FD00::1]:3000 ")
    assert Settings().allowed_hosts == ("hostd.example", "b.example:8443", "[fd00::1]:3000")
    assert split_host("[fd00::1]:3000") == ("fd00::1", 3000)
    assert split_host("Hostd.Example") == ("hostd.example", None)
    for bad in ("http://x", "x:0", "x:65536", "x:", "::1", "a b", "x/y", ""):
        with pytest.raises(ValueError):
            split_host(bad)


def test_generated_secret_is_kept_with_mode_0600(clean_env, tmp_path):
    s = Settings()
    secret = s.signing_secret()
    path = tmp_path / "data" / "jwt_secret"
    assert len(secret) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings().signing_secret() == secret  # same file, same secret
    path.chmod(0o644)
    Settings().signing_secret()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a loosened file is tightened again


def test_explicit_secret_writes_no_file(clean_env, tmp_path):
    clean_env.setenv("JWT_SECRET", "a-secret-of-enough-length")
    assert Settings().signing_secret() == "a-secret-of-enough-length"
    assert not (tmp_path / "data" / "jwt_secret").exists()


def test_running_daemon_secret_file_is_0600(hostd):
    path = hostd.data_dir / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "abc"), ("PORT", "0"), ("PORT", "70000"), ("HOSTD_ROUTER_PORT", "x"),
    ("JWT_EXPIRES_IN", "7x"), ("JWT_EXPIRES_IN", "0"), ("JWT_SECRET", "short"),
    ("FRONTEND_URL", "not-a-url"), ("BCRYPT_ROUNDS", "2"), ("BCRYPT_ROUNDS", "99"),
    ("HOSTD_ALLOW_LOCAL_REPOS", "maybe"), ("HOSTD_MAX_BODY_BYTES", "10"),
    ("HOSTD_ALLOWED_HOSTS", "http://hostd.example"), ("HOSTD_ALLOWED_HOSTS", "a.example:99999"),
    ("HOSTD_MAX_PROJECTS_PER_USER", "-1"), ("HOSTD_MAX_STREAMS_PER_USER", "many"),
    ("HOSTD_ROUTER_TUNNELS_PER_PROJECT", "0"), ("HOSTD_TUNNEL_IDLE_TIMEOUT", "0"),
    ("HOSTD_CONTAINER_LOG_MB", "0"),
    ("HOSTD_ROUTER_HOST", "localhost"), ("HOSTD_ROUTER_HOST", "router.example.com"),
    ("HOSTD_ROUTER_HOST", "0.0.0.0:80"), ("HOSTD_ROUTER_HOST", "[::1]"),
    ("HOSTD_APPS_DOMAIN", "*.apps.example.com"), ("HOSTD_APPS_DOMAIN", "localhost"),
    ("HOSTD_APPS_DOMAIN", "apps.localhost"), ("HOSTD_APPS_DOMAIN", "203.0.113.7"),
    ("HOSTD_APPS_DOMAIN", "[::1]"), ("HOSTD_APPS_DOMAIN", "com"),
    ("HOSTD_APPS_DOMAIN", "apps..example.com"), ("HOSTD_APPS_DOMAIN", "under_score.example"),
    ("HOSTD_APPS_DOMAIN", "-apps.example.com"), ("HOSTD_APPS_DOMAIN", "apps.example.com/x"),
    ("HOSTD_APPS_DOMAIN", "http://apps.example.com"), ("HOSTD_APPS_DOMAIN", "a.b.123"),
])
def test_invalid_setting_is_described_in_one_line_naming_it(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    line = describe_settings_error(info.value)
    assert line.startswith(f"invalid setting {name}: ")
    assert "\n" not in line
    assert "Value error" not in line


# Each case is a real `hostd serve` (about a second each): one per kind of failure.
@pytest.mark.parametrize(("name", "value"), [
    ("JWT_EXPIRES_IN", "7x"),                          # refused by Settings
    ("HOSTD_DATA_DIR", "/proc/hostd-cannot-be-here"),  # refused when creating the data dir
    ("DATABASE_URL", "nosuchdb://x"),                  # refused when opening the database
    ("HOSTD_ROUTER_HOST", "localhost"),                # a name: the router binds addresses
])
def test_invalid_setting_stops_serve_with_one_line(tmp_path, name, value):
    server = HostdServer(data_dir=tmp_path / "data", env_overrides={name: value})
    result = server.run("serve", timeout=20)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"hostd: invalid setting {name}: ")
    assert "Traceback" not in result.stderr + result.stdout


def test_router_workers_default_to_the_cpus_at_most_eight(clean_env):
    assert Settings().router_workers == default_router_workers()
    assert 1 <= default_router_workers() <= 8
    clean_env.setenv("HOSTD_ROUTER_WORKERS", "1")
    assert Settings().router_workers == 1
    clean_env.setenv("HOSTD_ROUTER_WORKERS", "0")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(("raw", "address"), [
    ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("::", "::"),  # noqa: S104
    ("0:0::1", "::1"), (" 192.0.2.1 ", "192.0.2.1"),
])
def test_router_host_is_an_address_and_never_moves_the_api(clean_env, raw, address):
    clean_env.setenv("HOSTD_ROUTER_HOST", raw)
    settings = Settings()
    assert settings.router_host == address
    assert settings.host == "127.0.0.1"  # HOST, the API's, stays loopback


@pytest.mark.parametrize(("raw", "domain"), [
    ("apps.example.com", "apps.example.com"), ("Apps.Example.COM.", "apps.example.com"),
    ("bücher.example", "xn--bcher-kva.example"), ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("", None),
])
def test_apps_domain_is_a_lowercase_ascii_dns_name(clean_env, raw, domain):
    clean_env.setenv("HOSTD_APPS_DOMAIN", raw)
    assert Settings().apps_domain == domain


@pytest.mark.parametrize(("name", "value"), [
    ("HOSTD_ALLOWED_HOSTS", "hostd.apps.example.com"), ("HOSTD_ALLOWED_HOSTS", "apps.example.com"),
    ("FRONTEND_URL", "https://shop.alice.apps.example.com"),
])
def test_the_api_is_never_named_under_the_apps_domain(clean_env, name, value):
    clean_env.setenv("HOSTD_APPS_DOMAIN", "apps.example.com")
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    line = describe_settings_error(info.value)
    assert line.startswith("invalid setting HOSTD_APPS_DOMAIN: ") and "\n" not in line, line
    clean_env.setenv("HOSTD_APPS_DOMAIN", "apps.example.net")
    assert Settings().apps_domain == "apps.example.net"
