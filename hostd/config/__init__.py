"""Settings from the environment and `.env`, built once and passed in.

Nothing here runs at import: `Settings()` is called by `create_app` or the `hostd`
command, and tests build their own with a private data directory.
"""

from __future__ import annotations

import os
import re
import secrets
from functools import cached_property
from ipaddress import IPv4Network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hostd.config.domain import apps_domain, router_address, under
from hostd.config.instance import (
    INSTANCE_FILE_NAME,
    INSTANCE_PATTERN,
    LEGACY_INSTANCE,
    InstanceFileError,
    install_instance,
)
from hostd.config.machine import (
    MAX_DEFAULT_ROUTER_WORKERS,
    default_data_dir,
    default_router_workers,
    host_ca_bundle,
    physical_memory_mb,
)

__all__ = [
    "DASHBOARD_NAME", "INSTANCE_FILE_NAME", "LEGACY_INSTANCE", "MAX_DEFAULT_ROUTER_WORKERS",
    "InstanceFileError", "Settings", "default_router_workers", "describe_settings_error",
    "install_instance", "parse_duration", "physical_memory_mb", "split_host",
]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
# A Host header's value or an HOSTD_ALLOWED_HOSTS entry: a name, an IPv4 address or a
# bracketed IPv6 address, then an optional port.
_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(?P<port>[0-9]{1,5}))?")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
SECRET_FILE_NAME = "jwt_secret"  # noqa: S105 - a file name, not a secret
# The dashboard's own name (hostd.api.session): its cookie is host-only there, and the
# router never routes it (nor `*.hostd.localhost`: no handle may be `hostd`).
DASHBOARD_NAME = "hostd.localhost"


def parse_duration(value: str | int) -> int:
    """`7d`, `12h`, `30m`, `45s` or plain seconds → seconds."""
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration like 7d, 12h, 30m or 3600")
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("must be longer than zero seconds")
    return seconds


def split_host(value: str) -> tuple[str, int | None]:
    """`name`, `name:port`, `[::1]` or `[::1]:port` → (lower-cased name without brackets,
    port or None); ValueError for anything else."""
    match = _HOST.fullmatch(value.lower())
    port = int(match["port"]) if match and match["port"] else None
    if match is None or (port is not None and not 1 <= port <= 65535):
        raise ValueError(f"{value!r} is not a host name or address with an optional :port")
    return match["name"].strip("[]"), port


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
        populate_by_name=True,
    )

    port: int = Field(3000, ge=1, le=65535, validation_alias="PORT")
    host: str = Field("127.0.0.1", validation_alias="HOST")
    jwt_secret: str | None = Field(None, min_length=16, validation_alias="JWT_SECRET")
    jwt_expires_in: Annotated[int, NoDecode] = Field(
        7 * 86400, validation_alias="JWT_EXPIRES_IN"
    )
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    frontend_url: str | None = Field(None, validation_alias="FRONTEND_URL")
    # Host names the API answers to besides loopback (hostd.api.origin): `name` (bare or
    # with the API's port) or `name:port`, comma-separated.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias="HOSTD_ALLOWED_HOSTS")
    data_dir: Path = Field(
        default_factory=default_data_dir,
        validation_alias="HOSTD_DATA_DIR",
    )
    router_port: int = Field(8080, ge=1, le=65535, validation_alias="HOSTD_ROUTER_PORT")
    # Router worker processes sharing the router port (hostd.router.pool); 1 runs the router
    # inside the daemon, on the API's event loop.
    router_workers: int = Field(default_factory=default_router_workers, ge=1, le=64,
                                validation_alias="HOSTD_ROUTER_WORKERS")
    # Apps reachable by the world (#28, hostd.config.domain): the address the router binds
    # (never the API's, HOST), and the domain projects are named under besides *.localhost.
    router_host: str = Field("127.0.0.1", validation_alias="HOSTD_ROUTER_HOST")
    apps_domain: str | None = Field(None, validation_alias="HOSTD_APPS_DOMAIN")

    @field_validator("router_host", mode="before")
    @classmethod
    def _router_host(cls, value: str) -> str:
        return router_address(str(value))

    @field_validator("apps_domain", mode="before")
    @classmethod
    def _apps_domain(cls, value: str | None) -> str | None:
        return apps_domain(value) if value else None

    @model_validator(mode="after")
    def _api_not_under_apps_domain(self) -> Settings:
        # The apps' names are the tenants': never one the API answers to or takes changes from.
        names = [split_host(entry)[0] for entry in self.allowed_hosts]
        if self.frontend_url:
            names.append(split_host(self.frontend_url.split("://", 1)[1])[0])
        for name in names:
            if under(name, self.apps_domain):
                raise ValueError(f"HOSTD_APPS_DOMAIN: {name} is an app's name, so it can't "
                                 "be the API's (HOSTD_ALLOWED_HOSTS, FRONTEND_URL)")
        return self

    metrics_interval_s: float = Field(4.0, ge=0.2, le=3600,
                                      validation_alias="HOSTD_METRICS_INTERVAL")
    sse_keepalive_s: float = Field(15.0, ge=0.5, le=300, validation_alias="HOSTD_SSE_KEEPALIVE")
    allow_local_repos: bool = Field(False, validation_alias="HOSTD_ALLOW_LOCAL_REPOS")
    bcrypt_rounds: int = Field(12, ge=4, le=16, validation_alias="BCRYPT_ROUNDS")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, validation_alias="HOSTD_MAX_BODY_BYTES")

    # Docker side. Every container and image hostd makes carries hostd.instance=<instance>,
    # so two daemons (or a test run) on one engine never touch each other's containers.
    # Unset: the install's own id from its data dir (with_instance; build_services).
    instance: str | None = Field(None, pattern=INSTANCE_PATTERN,
                                 validation_alias="HOSTD_INSTANCE")
    docker_host: str | None = Field(None, validation_alias="DOCKER_HOST")
    build_ca_bundle: Path | None = Field(
        default_factory=host_ca_bundle, validation_alias="HOSTD_BUILD_CA_BUNDLE"
    )
    container_memory_mb: int = Field(512, ge=16, validation_alias="HOSTD_CONTAINER_MEMORY_MB")
    container_cpus: float = Field(1.0, gt=0, le=64, validation_alias="HOSTD_CONTAINER_CPUS")
    container_pids: int = Field(256, ge=16, validation_alias="HOSTD_CONTAINER_PIDS")
    # An app's log on the engine: json-file, rotated at this size, this many files kept.
    container_log_mb: int = Field(10, ge=1, le=1024, validation_alias="HOSTD_CONTAINER_LOG_MB")
    container_log_files: int = Field(3, ge=1, le=100,
                                     validation_alias="HOSTD_CONTAINER_LOG_FILES")
    # The /tmp tmpfs of apps that run on a read-only root filesystem (static, react).
    container_tmp_mb: int = Field(64, ge=1, le=4096, validation_alias="HOSTD_CONTAINER_TMP_MB")
    # /data size limit (hostd.engine.datavol): each project's /data is an ext4 filesystem of
    # this many MB in a sparse file of the data dir, loop-mounted by hostd (root); 0: a
    # plain engine volume with no limit (no root, or a remote engine).
    data_mb: int = Field(1024, ge=0, le=1024 * 1024, validation_alias="HOSTD_DATA_MB")

    @field_validator("data_mb")
    @classmethod
    def _data_mb_is_off_or_usable(cls, value: int) -> int:
        if 0 < value < 16:
            raise ValueError("must be 0 (no limit) or at least 16 (MB)")
        return value

    build_memory_mb: int = Field(2048, ge=128, validation_alias="HOSTD_BUILD_MEMORY_MB")
    deploy_concurrency: int = Field(4, ge=1, le=16, validation_alias="HOSTD_DEPLOY_CONCURRENCY")
    # Fair deploys (hostd.control.deployer): builds and release phases, which a user can
    # make wait for minutes, run on pools of their own, not the deploy workers above.
    build_concurrency: int = Field(2, ge=1, le=16, validation_alias="HOSTD_BUILD_CONCURRENCY")
    release_concurrency: int = Field(4, ge=1, le=64,
                                     validation_alias="HOSTD_RELEASE_CONCURRENCY")
    clone_timeout_s: int = Field(120, ge=1, validation_alias="HOSTD_CLONE_TIMEOUT")
    health_timeout_s: int = Field(
        60, ge=1, validation_alias=AliasChoices("HOSTD_DEPLOY_TIMEOUT", "HOSTD_HEALTH_TIMEOUT"))
    # After a change switches traffic, the old container finishes what it was sent:
    # it goes once nothing is open to it (but not before drain_s), at most drain_timeout_s.
    drain_s: float = Field(0.5, ge=0, le=300, validation_alias="HOSTD_DRAIN_SECONDS")
    drain_timeout_s: float = Field(30.0, ge=0, le=3600, validation_alias="HOSTD_DRAIN_TIMEOUT")
    # Web replicas start this many at a time, a batch answering before the next starts
    # (kamal's boot limit): a deploy or scale of many doesn't boot them all at once on CPUs
    # the serving release needs. The switch to them is still one, all at once.
    rollout_batch: int = Field(2, ge=1, le=64, validation_alias="HOSTD_ROLLOUT_BATCH")
    # Changes that wait for an app run on threads of their own (hostd.control.change_runner).
    change_threads: int = Field(16, ge=1, le=256, validation_alias="HOSTD_CHANGE_THREADS")
    changes_per_user: int = Field(4, ge=1, le=256, validation_alias="HOSTD_CHANGES_PER_USER")
    log_followers: int = Field(64, ge=1, le=1024, validation_alias="HOSTD_LOG_FOLLOWERS")
    # One-off commands (`hostctl run`): at once per user, and the longest one may run.
    runs_per_user: int = Field(2, ge=1, le=64, validation_alias="HOSTD_RUNS_PER_USER")
    run_timeout_s: int = Field(600, ge=1, le=86400, validation_alias="HOSTD_RUN_TIMEOUT")
    # App containers can't reach the host or 169.254.0.0/16 (hostd.engine.egress).
    egress: Literal["filtered", "open"] = Field("filtered", validation_alias="HOSTD_EGRESS")
    # Where the users' networks take their /26 subnets from (hostd.engine.usernet).
    app_subnets: IPv4Network = Field(IPv4Network("10.213.0.0/16"),
                                     validation_alias="HOSTD_APP_SUBNETS")
    # The images of a project's newest releases stay on disk: rollback targets.
    releases_kept: int = Field(5, ge=1, le=100, validation_alias="HOSTD_RELEASES_KEPT")

    # Untrusted repositories (SECURITY.md): what a checkout may hold, where git may go,
    # which bases a Dockerfile may name, and how much a build may take.
    max_source_mb: int = Field(1024, ge=1, validation_alias="HOSTD_MAX_SOURCE_MB")
    max_source_files: int = Field(50_000, ge=10, validation_alias="HOSTD_MAX_SOURCE_FILES")
    allow_private_repos: bool = Field(False, validation_alias="HOSTD_ALLOW_PRIVATE_REPOS")
    git_proxy: str | None = Field(None, validation_alias="HOSTD_GIT_PROXY")
    allowed_images: Annotated[tuple[str, ...], NoDecode] = Field(
        ("docker.io/library/*",), validation_alias="HOSTD_ALLOWED_IMAGES")
    build_timeout_s: int = Field(600, ge=1, validation_alias="HOSTD_BUILD_TIMEOUT")
    build_cpus: float = Field(1.0, gt=0, le=64, validation_alias="HOSTD_BUILD_CPUS")
    build_pids: int = Field(512, ge=16, validation_alias="HOSTD_BUILD_PIDS")
    build_log_mb: int = Field(20, ge=1, validation_alias="HOSTD_BUILD_LOG_MB")
    max_queued_deploys: int = Field(5, ge=1, le=1000,
                                    validation_alias="HOSTD_MAX_QUEUED_DEPLOYS")

    # Source uploads (hostd.control.upload_gate, hostd.control.upload): uploads in progress at
    # once per user, bytes they stage at once per user, the threads that check archives
    # (not the API's), and the check's deadline (the unpack has HOSTD_BUILD_TIMEOUT's).
    uploads_per_user: int = Field(2, ge=1, le=64, validation_alias="HOSTD_UPLOADS_PER_USER")
    upload_staging_mb_per_user: int = Field(
        1024, ge=1, validation_alias="HOSTD_UPLOAD_STAGING_MB_PER_USER")
    upload_threads: int = Field(2, ge=1, le=64, validation_alias="HOSTD_UPLOAD_THREADS")
    upload_timeout_s: int = Field(30, ge=1, le=3600, validation_alias="HOSTD_UPLOAD_TIMEOUT")

    # Scheduled jobs (app.json `cron`, hostd.control.cron): the longest a run may take
    # (Dokku's 24 h), runs at once per user and in all, the output kept with each run,
    # the runs kept per job, and how often the scheduler looks at the clock.
    cron_timeout_s: int = Field(86400, ge=1, le=7 * 86400, validation_alias="HOSTD_CRON_TIMEOUT")
    cron_runs_per_user: int = Field(4, ge=1, le=64, validation_alias="HOSTD_CRON_RUNS_PER_USER")
    cron_concurrency: int = Field(32, ge=1, le=1024, validation_alias="HOSTD_CRON_CONCURRENCY")
    cron_log_kb: int = Field(64, ge=1, le=1024, validation_alias="HOSTD_CRON_LOG_KB")
    cron_runs_kept: int = Field(20, ge=1, le=1000, validation_alias="HOSTD_CRON_RUNS_KEPT")
    cron_tick_s: float = Field(1.0, gt=0, le=60, validation_alias="HOSTD_CRON_TICK")

    # Per-user quotas (hostd.control.quota); 0 turns one off. Memory is reserved by every
    # project that runs or is being started, at HOSTD_CONTAINER_MEMORY_MB each; by default
    # one user may reserve the machine's memory and have Heroku's 100 apps. Operators of
    # many tenants lower both.
    max_projects_per_user: int = Field(100, ge=0, validation_alias="HOSTD_MAX_PROJECTS_PER_USER")
    max_memory_mb_per_user: int = Field(default_factory=physical_memory_mb, ge=0,
                                        validation_alias="HOSTD_MAX_MEMORY_MB_PER_USER")
    # Who makes accounts (`closed`: only `hostd users add`), and where local repositories
    # may be (with HOSTD_ALLOW_LOCAL_REPOS: only under this directory; unset, nowhere).
    registration: Literal["open", "closed"] = Field("open", validation_alias="HOSTD_REGISTRATION")
    local_repos_root: Path | None = Field(None, validation_alias="HOSTD_LOCAL_REPOS_ROOT")
    # Event and log streams open at once per user (hostd.control.streams); 0: no limit.
    max_streams_per_user: int = Field(10, ge=0, validation_alias="HOSTD_MAX_STREAMS_PER_USER")
    # Router caps per project, counted in each router worker process on its own.
    router_connections_per_project: int = Field(
        256, ge=1, le=100_000, validation_alias="HOSTD_ROUTER_CONNECTIONS_PER_PROJECT")
    router_tunnels_per_project: int = Field(
        64, ge=1, le=100_000, validation_alias="HOSTD_ROUTER_TUNNELS_PER_PROJECT")
    tunnel_idle_timeout_s: Annotated[int, NoDecode] = Field(
        300, validation_alias="HOSTD_TUNNEL_IDLE_TIMEOUT")

    # Abuse limits (hostd.control.ratelimit); 0 turns one off. The per-email limit counts an
    # account's failed logins from one address: a guesser locks the account for itself only.
    login_fails_per_email: int = Field(10, ge=0, validation_alias="HOSTD_LOGIN_FAILS_PER_EMAIL")
    login_fails_per_address: int = Field(100, ge=0,
                                         validation_alias="HOSTD_LOGIN_FAILS_PER_ADDRESS")
    login_window_s: Annotated[int, NoDecode] = Field(15 * 60, validation_alias="HOSTD_LOGIN_WINDOW")
    registrations_per_address: int = Field(60, ge=0,
                                           validation_alias="HOSTD_REGISTRATIONS_PER_ADDRESS")
    registration_window_s: Annotated[int, NoDecode] = Field(
        60, validation_alias="HOSTD_REGISTRATION_WINDOW")

    # Browser sessions (hostd.api.session): the dashboard's cookie lives this long unused,
    # renewed as it is used, and JWT_EXPIRES_IN after its sign-in at most.
    session_idle_s: Annotated[int, NoDecode] = Field(8 * 3600,
                                                     validation_alias="HOSTD_SESSION_IDLE")

    @field_validator("session_idle_s", mode="before")
    @classmethod
    def _session_idle(cls, value: str | int) -> int:
        return parse_duration(value)

    @field_validator("jwt_expires_in", "login_window_s", "registration_window_s",
                     "tunnel_idle_timeout_s", mode="before")
    @classmethod
    def _duration(cls, value: str | int) -> int:
        return parse_duration(value)

    @field_validator("local_repos_root", mode="before")
    @classmethod
    def _repos_root(cls, value: str | Path | None) -> Path | None:
        if value is None or str(value) == "":
            return None
        if not Path(value).is_absolute():
            raise ValueError("must be an absolute path (the directory local repositories "
                             "must be under)")
        return Path(value)

    @field_validator("allowed_images", mode="before")
    @classmethod
    def _image_globs(cls, value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
        # A comma- or space-separated list of globs; empty allows only hostd's own bases.
        items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
        return tuple(item.strip() for item in items if item.strip())

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
        items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
        for item in items:
            split_host(item)  # a malformed entry stops start-up, naming the variable
        return tuple(item.lower() for item in items)

    @field_validator("git_proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^(https?|socks5h?)://[^\s]+$", value):
            raise ValueError("must be a proxy URL like http://proxy.example:3128")
        return value

    @field_validator("build_ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        if value is None or str(value) in ("", "none"):
            return None
        if not value.is_file():
            raise ValueError(f"{value} is not a file (a PEM bundle, or 'none')")
        return value

    @field_validator("frontend_url")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^https?://[^/\s]+$", value.rstrip("/")):
            raise ValueError("must be an origin like http://localhost:5173")
        return value.rstrip("/")

    @cached_property
    def database_uri(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hostd.db'}"

    @property
    def known_hosts_file(self) -> Path:
        """hostd's own SSH known_hosts for ssh:// clones (the operator fills it)."""
        return self.data_dir / "known_hosts"

    @property
    def instance_label(self) -> str:
        """The `hostd.instance` label of everything this daemon makes on the engine."""
        if self.instance is None:
            raise RuntimeError("no instance label yet: Settings.with_instance decides it")
        return self.instance

    def with_instance(self, existing_database: bool) -> Settings:
        """These settings with the label decided: HOSTD_INSTANCE, else the install's id."""
        if self.instance is not None:
            return self
        self.ensure_data_dir()
        return self.model_copy(
            update={"instance": install_instance(self.data_dir, existing_database)})

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def signing_secret(self) -> str:
        """JWT_SECRET, or a random secret generated once and kept in the data dir (0600)."""
        if self.jwt_secret:
            return self.jwt_secret
        self.ensure_data_dir()
        path = self.data_dir / SECRET_FILE_NAME
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            os.chmod(path, 0o600)
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        return path.read_text().strip()


def describe_settings_error(exc: Exception) -> str:
    """One clear line naming the variable that stopped start-up."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        message = str(err["msg"]).removeprefix("Value error, ")
        # A check across settings (a model validator) names its variables itself.
        parts.append(f"{str(err['loc'][0]).upper()}: {message}" if err.get("loc") else message)
    return "invalid setting " + "; ".join(parts)
