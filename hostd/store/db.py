"""The database engine, sessions, and the one place that creates or upgrades the schema.

SQLite (the default) runs in WAL mode with foreign keys on and a busy timeout, so
readers never wait on the writer and concurrent writers queue instead of failing.
PostgreSQL (`postgresql://`, on psycopg 3) gets a pre-pinged pool sized to the threads
that use it; any other SQLAlchemy URL whose driver is installed is opened as it is.
One migration entry point serves every backend: the steps are portable SQL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlmodel import SQLModel, create_engine

from hostd.store import dburl, models

log = logging.getLogger("hostd.db")
SQLITE_BUSY_TIMEOUT_S = 30


# The threads that may each hold a pooled connection at once: anyio's worker threads
# (sync routes, to_thread: 40 by default), plus the daemon's own that touch the database —
# the engine monitor, the supervisor's and reconciler's work on it, the metrics collector
# and a retirer or two. hostd.services adds the change threads and the deploy workers.
ANYIO_THREADS = 40
OTHER_THREADS = 8
DEFAULT_POOL_THREADS = ANYIO_THREADS + OTHER_THREADS
# Beyond one connection per thread: a thread may briefly hold a second (a request's session
# and a status write). PostgreSQL connections are server processes: a short overflow only.
PG_OVERFLOW = 10
POOL_TIMEOUT_S = 30


def make_engine(url: str | URL, threads: int = DEFAULT_POOL_THREADS) -> Engine:
    """An engine for `url` (DatabaseUrlError when it cannot be used), its pool sized for
    `threads` threads using it at once."""
    parsed = dburl.parse(url) if isinstance(url, str) else url
    if not dburl.is_sqlite(parsed):
        return create_engine(
            parsed, pool_pre_ping=True, pool_size=threads, max_overflow=PG_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_S, **_server_args(parsed))
    engine = create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        # SQLite connections are cheap: twice the threads (see PG_OVERFLOW's why).
        pool_size=threads // 2,
        max_overflow=threads + threads // 2,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _server_args(url: URL) -> dict[str, object]:
    # Timestamps are stored without a zone, all UTC: a server in another zone must not
    # shift the zone-aware ones psycopg sends.
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg":
        return {"connect_args": {"options": "-c timezone=UTC"}}
    return {}


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


# Each step upgrades the schema by one version; append, never edit, once released.
def _v1_initial(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn)


def _v2_project_env(conn: Connection) -> None:
    # New table only (config vars); create_all skips the tables that exist.
    # SQLModel's metaclass sets __table__ on table models; its stubs do not declare it.
    SQLModel.metadata.create_all(conn, tables=[models.ProjectEnv.__table__])  # type: ignore[attr-defined]


# Supervision columns (hostd.control.supervisor). A database made by this version's v1 has
# them already (create_all makes today's tables), so only missing ones are added.
_V3_COLUMNS = {
    "desired_status": "VARCHAR(16) NOT NULL DEFAULT 'running'",
    "restarts": "INTEGER NOT NULL DEFAULT 0",
    "crash_streak": "INTEGER NOT NULL DEFAULT 0",
    "running_since": "TIMESTAMP",
    "last_exit_code": "INTEGER",
    "last_exit_oom": "BOOLEAN NOT NULL DEFAULT FALSE",
    "last_exit_at": "TIMESTAMP",
}


def _v3_supervision(conn: Connection) -> None:
    present = {column["name"] for column in inspect(conn).get_columns("projects")}
    for name, kind in _V3_COLUMNS.items():
        if name not in present:
            conn.execute(text(f"ALTER TABLE projects ADD COLUMN {name} {kind}"))
    # What was stopped was stopped by its owner; everything else was meant to run.
    conn.execute(text("UPDATE projects SET desired_status = 'stopped' WHERE status = 'stopped'"))


def _v4_releases(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn, tables=[models.Release.__table__])  # type: ignore[attr-defined]
    present = {column["name"] for column in inspect(conn).get_columns("projects")}
    if "release_version" not in present:
        conn.execute(text("ALTER TABLE projects ADD COLUMN release_version INTEGER"))
    # A project that already runs an image gets it as its v1, config vars and all.
    adopted = conn.execute(text(
        "SELECT id, image FROM projects WHERE image IS NOT NULL AND release_version IS NULL")).all()
    for project_id, image in adopted:
        rows = conn.execute(text("SELECT name, value FROM project_env WHERE project_id = :p"),
                            {"p": project_id}).all()
        conn.execute(text(
            "INSERT INTO releases (id, project_id, version, image, env_json, cause, created_at)"
            " VALUES (:id, :p, 1, :image, :env, :cause, :at)"),
            {"id": models.new_id(), "p": project_id, "image": image,
             "env": json.dumps(dict(rows), sort_keys=True),
             "cause": "the release that ran when releases began", "at": models.utcnow()})
        conn.execute(text("UPDATE projects SET release_version = 1 WHERE id = :p"),
                     {"p": project_id})


def _v5_health_path(conn: Connection) -> None:
    present = {column["name"] for column in inspect(conn).get_columns("projects")}
    if "health_path" not in present:
        conn.execute(text("ALTER TABLE projects ADD COLUMN health_path VARCHAR(200) "
                          "NOT NULL DEFAULT '/'"))


def _v6_deleted_projects(conn: Connection) -> None:
    # Projects deleted before this version left no record: the reconciler leaves what
    # the engine may still hold of them (it can no longer tell them from another install's).
    SQLModel.metadata.create_all(conn, tables=[models.DeletedProject.__table__])  # type: ignore[attr-defined]


def _v7_token_generations(conn: Connection) -> None:
    # Tokens issued before this carry no generation: they count as 0, the users' start.
    present = {column["name"] for column in inspect(conn).get_columns("users")}
    if "token_generation" not in present:
        conn.execute(text("ALTER TABLE users ADD COLUMN token_generation INTEGER "
                          "NOT NULL DEFAULT 0"))
    if "kept_jti" not in present:
        conn.execute(text("ALTER TABLE users ADD COLUMN kept_jti VARCHAR(64)"))


# Facts that traveled in other columns' text get their own (issue 25): an upload's
# digest was `github_url` = "upload:<sha256>", a deploy's step and outcome were prose in
# `status_reason`.
_V8_COLUMNS = {
    "source": "VARCHAR(16) NOT NULL DEFAULT 'git'",
    "upload_digest": "VARCHAR(64)",
    "deploy_step": "VARCHAR(32)",
    "last_deploy_status": "VARCHAR(16)",
    "last_deploy_reason": "VARCHAR(2000)",
}
_UPLOAD_PREFIX = "upload:"  # what such a github_url began with


def _v8_source_and_deploy_fields(conn: Connection) -> None:
    present = {column["name"] for column in inspect(conn).get_columns("projects")}
    for name, kind in _V8_COLUMNS.items():
        if name not in present:
            conn.execute(text(f"ALTER TABLE projects ADD COLUMN {name} {kind}"))
    conn.execute(text(
        "UPDATE projects SET source = 'upload', github_url = '', upload_digest = "
        "NULLIF(SUBSTR(github_url, :start), '') WHERE github_url LIKE :prefix"),
        {"start": len(_UPLOAD_PREFIX) + 1, "prefix": f"{_UPLOAD_PREFIX}%"})
    # The outcome of each project's newest finished deploy, as the deployments say it.
    finished = conn.execute(text(
        "SELECT project_id, status, reason FROM deployments WHERE status <> 'running' "
        "ORDER BY started_at")).all()
    last = {project_id: (status, reason) for project_id, status, reason in finished}
    for project_id, (status, reason) in last.items():
        conn.execute(text("UPDATE projects SET last_deploy_status = :s, last_deploy_reason = :r"
                          " WHERE id = :p"), {"s": status, "r": reason, "p": project_id})


def _v9_release_processes(conn: Connection) -> None:
    # A release's process types (issue 26); the releases before it recorded none: {}.
    present = {column["name"] for column in inspect(conn).get_columns("releases")}
    if "processes_json" not in present:
        conn.execute(text("ALTER TABLE releases ADD COLUMN processes_json TEXT "
                          "NOT NULL DEFAULT '{}'"))


def _v10_process_replicas(conn: Connection) -> None:
    # Every process type, N replicas each (issue 26): the formation on the project, a row
    # per replica. What runs now is its web.1, found by the reconciler at the next start.
    SQLModel.metadata.create_all(conn, tables=[models.ProcessReplica.__table__])  # type: ignore[attr-defined]
    present = {column["name"] for column in inspect(conn).get_columns("projects")}
    if "formation_json" not in present:
        conn.execute(text("ALTER TABLE projects ADD COLUMN formation_json TEXT "
                          "NOT NULL DEFAULT '{}'"))


def _v11_cron(conn: Connection) -> None:
    # Scheduled jobs (issue 26): a release's app.json `cron` by its image, a row per run,
    # and on the project the jobs whose last run failed (none before: nothing ran).
    SQLModel.metadata.create_all(conn, tables=[models.ReleaseCron.__table__,  # type: ignore[attr-defined]
                                               models.CronRun.__table__])  # type: ignore[attr-defined]
    present = {column["name"] for column in inspect(conn).get_columns("projects")}
    if "cron_failing_json" not in present:
        conn.execute(text("ALTER TABLE projects ADD COLUMN cron_failing_json TEXT "
                          "NOT NULL DEFAULT '[]'"))


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_initial, _v2_project_env,
                                                  _v3_supervision, _v4_releases,
                                                  _v5_health_path, _v6_deleted_projects,
                                                  _v7_token_generations,
                                                  _v8_source_and_deploy_fields,
                                                  _v9_release_processes,
                                                  _v10_process_replicas,
                                                  _v11_cron]


def has_schema(engine: Engine) -> bool:
    """The database holds a schema hostd made (at an earlier start), before `migrate`."""
    return inspect(engine).has_table("schema_version")


def migrate(engine: Engine) -> int:
    """Create or upgrade the schema to the latest version; returns that version."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        current = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() or 0
        for version, step in enumerate(MIGRATIONS, start=1):
            if version > current:
                log.info("upgrading the database schema to version %d", version)
                step(conn)
                record = text("INSERT INTO schema_version (version) VALUES (:v)")
                conn.execute(record, {"v": version})
    return len(MIGRATIONS)


def make_loop_reader(url: str | URL) -> Engine | None:
    """For the local SQLite file: one connection of its own for small reads made on the
    event loop (None for any other database: those reads go to a thread).

    Such a read takes ~0.1 ms in WAL mode and never waits for a writer, while the hand-off
    to a worker thread and back costs several times that. It must never wait for the shared
    pool either: the sessions holding the pool's connections are closed on the event loop,
    so a loop blocked on the pool would wait for itself. The event loop is one thread, so
    one connection is all it needs.
    """
    parsed = dburl.parse(url) if isinstance(url, str) else url
    if not dburl.is_sqlite(parsed):
        return None
    engine = create_engine(
        parsed, poolclass=StaticPool,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        log.warning("database health check failed", exc_info=True)
        return False
