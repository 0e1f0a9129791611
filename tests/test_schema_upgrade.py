"""A database from before supervision and releases (schema v2, the tables as that version
made them) upgrades in place on a real SQLite file (with --db postgres, a real PostgreSQL
database): nothing stored is lost, a stopped project stays stopped, and a project that
runs an image gets it, with its config vars, as release v1; an upload project's digest
moves from `github_url` to `upload_digest` (v8); releases made before process types
were recorded have none (v9); and before cron, none has jobs or failing ones (v11)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, text
from sqlmodel import Session, select

from hostd.store import cron, db, releases
from hostd.store.models import CronRun, DeletedProject, ProcessReplica, Project, Release, User
from hostd.store.projects import cron_summary
from tests.plugins import postgres

V2_TABLES = """
CREATE TABLE users (id VARCHAR PRIMARY KEY, email VARCHAR(254) UNIQUE NOT NULL,
    name VARCHAR(100) NOT NULL, handle VARCHAR(40) UNIQUE NOT NULL,
    password_hash VARCHAR NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE revoked_tokens (jti VARCHAR(64) PRIMARY KEY, expires_at DATETIME NOT NULL);
CREATE TABLE projects (id VARCHAR PRIMARY KEY, user_id VARCHAR NOT NULL REFERENCES users(id)
    ON DELETE CASCADE, name VARCHAR(40) NOT NULL, template VARCHAR(16) NOT NULL,
    github_url VARCHAR(2048) NOT NULL, status VARCHAR(16) NOT NULL,
    status_reason VARCHAR(2000), created_at DATETIME NOT NULL, container_id VARCHAR(80),
    host_port INTEGER, image VARCHAR(200), CONSTRAINT uq_projects_user_name
    UNIQUE (user_id, name));
CREATE TABLE deployments (id VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL
    REFERENCES projects(id) ON DELETE CASCADE, status VARCHAR(16) NOT NULL,
    step VARCHAR(32), "commit" VARCHAR(64), image VARCHAR(200), reason VARCHAR(2000),
    started_at DATETIME NOT NULL, finished_at DATETIME);
CREATE TABLE project_env (project_id VARCHAR NOT NULL REFERENCES projects(id)
    ON DELETE CASCADE, name VARCHAR(128) NOT NULL, value VARCHAR(32768) NOT NULL,
    PRIMARY KEY (project_id, name));
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1), (2);
INSERT INTO users VALUES ('u1', 'a@example.com', 'A', 'a', 'hash', '2026-11-01 10:00:00');
INSERT INTO projects VALUES ('p1', 'u1', 'shop', 'static', 'https://example.com/r.git',
    'running', NULL, '2026-11-01 10:00:00', 'c1', 40001, 'hostd-app/p1:abc');
INSERT INTO projects VALUES ('p2', 'u1', 'blog', 'static', 'https://example.com/b.git',
    'stopped', NULL, '2026-11-01 10:00:00', 'c2', NULL, 'hostd-app/p2:def');
INSERT INTO projects VALUES ('p3', 'u1', 'new', 'static', 'https://example.com/n.git',
    'error', 'could not reach the repository', '2026-11-01 10:00:00', NULL, NULL, NULL);
INSERT INTO projects VALUES ('p4', 'u1', 'up', 'static',
    'upload:abababababababababababababababababababababababababababababababab', 'running', NULL,
    '2026-11-01 10:00:00', 'c4', 40004, 'hostd-app/p4:abc');
INSERT INTO projects VALUES ('p5', 'u1', 'later', 'static', 'upload:', 'stopped',
    'waiting for its first upload (hostctl up)', '2026-11-01 10:00:00', NULL, NULL, NULL);
INSERT INTO deployments VALUES ('d1', 'p1', 'succeeded', 'done', 'abc', 'hostd-app/p1:abc',
    NULL, '2026-11-01 10:00:00', '2026-11-01 10:01:00');
INSERT INTO deployments VALUES ('d2', 'p1', 'failed', 'build', 'abd', NULL,
    'the build failed: no', '2026-11-02 10:00:00', '2026-11-02 10:01:00');
INSERT INTO deployments VALUES ('d3', 'p4', 'succeeded', 'done', NULL, 'hostd-app/p4:abc',
    NULL, '2026-11-01 10:00:00', '2026-11-01 10:01:00');
INSERT INTO project_env VALUES ('p1', 'GREETING', 'hi');
"""


def _v2_database(tmp_path: Path) -> Engine:
    # Under --db postgres, a PostgreSQL database as that version made it there.
    url = postgres.new_database()
    engine = db.make_engine(url or f"sqlite:///{tmp_path / 'hostd.db'}")
    tables = V2_TABLES.replace("DATETIME", "TIMESTAMP") if url else V2_TABLES
    with engine.begin() as conn:
        for statement in tables.split(";"):
            if statement.strip():
                conn.execute(text(statement))
    return engine


def test_a_v2_database_upgrades_keeping_everything(tmp_path: Path) -> None:
    engine = _v2_database(tmp_path)
    assert db.migrate(engine) == len(db.MIGRATIONS)
    assert db.migrate(engine) == len(db.MIGRATIONS)  # a second start changes nothing
    with Session(engine) as session:
        shop, blog, new = (session.get(Project, pid) for pid in ("p1", "p2", "p3"))
        assert shop and blog and new
        assert (shop.status, shop.desired_status, shop.restarts) == ("running", "running", 0)
        assert (blog.status, blog.desired_status) == ("stopped", "stopped")
        assert new.status_reason == "could not reach the repository"
        assert shop.release_version == 1 and blog.release_version == 1
        assert new.release_version is None
        (v1,) = releases.newest(session, "p1", 10)
        assert (v1.version, v1.image) == (1, "hostd-app/p1:abc")
        assert releases.env_of(v1) == {"GREETING": "hi"}
        assert json.loads(v1.env_json) == {"GREETING": "hi"}
        assert len(session.exec(select(Release)).all()) == 3
        assert session.exec(select(DeletedProject)).all() == []  # v6: none deleted yet
        user = session.get(User, "u1")  # v7: its tokens (no `gen` claim) stay valid
        assert user is not None and (user.token_generation, user.kept_jti) == (0, None)
        _assert_v8_fields(session)
    engine.dispose()


def test_the_releases_before_process_types_have_none(tmp_path: Path) -> None:
    """v9: `releases.processes_json`; a release made before it has no process types."""
    engine = _v2_database(tmp_path)
    db.migrate(engine)
    v9 = db.MIGRATIONS.index(db._v9_release_processes) + 1
    with engine.begin() as conn:  # back to the version before: its releases table
        conn.execute(text("ALTER TABLE releases DROP COLUMN processes_json"))
        conn.execute(text("DELETE FROM schema_version WHERE version >= :v"), {"v": v9})
    assert db.migrate(engine) == len(db.MIGRATIONS)
    with Session(engine) as session:
        (v1,) = releases.newest(session, "p1", 10)
        assert releases.processes_of(v1) == {}
        assert releases.to_public(v1, current=1).processes == {}
    engine.dispose()


def test_a_project_from_before_process_types_has_the_default_formation(tmp_path: Path) -> None:
    """v10: `projects.formation_json` ({}: every type at its default) and a table of
    replicas, empty until the daemon starts (its reconciler finds what runs)."""
    engine = _v2_database(tmp_path)
    db.migrate(engine)
    v10 = db.MIGRATIONS.index(db._v10_process_replicas) + 1
    with engine.begin() as conn:  # back to the version before
        conn.execute(text("DROP TABLE process_replicas"))
        conn.execute(text("ALTER TABLE projects DROP COLUMN formation_json"))
        conn.execute(text("DELETE FROM schema_version WHERE version >= :v"), {"v": v10})
    assert db.migrate(engine) == len(db.MIGRATIONS)
    with Session(engine) as session:
        shop = session.get(Project, "p1")
        assert shop is not None and shop.formation_json == "{}"
        assert session.exec(select(ProcessReplica)).all() == []
    engine.dispose()


def test_the_releases_before_cron_have_no_jobs_and_nothing_failing(tmp_path: Path) -> None:
    """v11: a release's cron jobs by its image (`release_cron`), a row per run
    (`cron_runs`), and the project's failing jobs (none: nothing ran before)."""
    engine = _v2_database(tmp_path)
    db.migrate(engine)
    v11 = db.MIGRATIONS.index(db._v11_cron) + 1
    with engine.begin() as conn:  # back to the version before
        conn.execute(text("DROP TABLE cron_runs"))
        conn.execute(text("DROP TABLE release_cron"))
        conn.execute(text("ALTER TABLE projects DROP COLUMN cron_failing_json"))
        conn.execute(text("DELETE FROM schema_version WHERE version >= :v"), {"v": v11})
    assert db.migrate(engine) == len(db.MIGRATIONS)
    with Session(engine) as session:
        shop = session.get(Project, "p1")
        assert shop is not None and cron_summary(shop.cron_failing_json).failing == []
        (v1,) = releases.newest(session, "p1", 10)
        assert cron.release_jobs(session, v1) == []
        assert session.exec(select(CronRun)).all() == []
        cron.keep_jobs(session, "p1", v1.image, [cron.Job("0a1b2c3d", "./x", "@daily")])
        session.commit()
        assert cron.release_jobs(session, v1) == [cron.Job("0a1b2c3d", "./x", "@daily")]
    engine.dispose()


def _assert_v8_fields(session: Session) -> None:
    """v8: an upload's digest left `github_url` for a column of its own; the newest
    finished deploy's outcome is the project's `last_deploy`."""
    shop, new, up, later = (session.get(Project, pid) for pid in ("p1", "p3", "p4", "p5"))
    assert shop and new and up and later
    assert (shop.source, shop.upload_digest, shop.github_url) == \
        ("git", None, "https://example.com/r.git")
    assert (up.source, up.upload_digest, up.github_url) == ("upload", "ab" * 32, "")
    assert (later.source, later.upload_digest, later.github_url) == ("upload", None, "")
    assert (shop.last_deploy_status, shop.last_deploy_reason) == \
        ("failed", "the build failed: no")
    assert (up.last_deploy_status, up.last_deploy_reason) == ("succeeded", None)
    assert (new.last_deploy_status, new.deploy_step) == (None, None)


def test_a_config_change_is_described_by_names_only() -> None:
    before = {"A": "1", "B": "2"}
    assert releases.env_cause({"A": "9", "C": "3", "B": None}, before) == \
        "env: set A, C; removed B"
    assert releases.env_cause({"A": "1"}, before) == "env: no change"
