"""The tests' second backend: `pytest --db postgres` gives every daemon a PostgreSQL
database of its own.

The server is scripts/ensure-postgres's throwaway cluster (`make test` starts it), or
any server whose admin URL (a role that may create databases) is in
HOSTD_TEST_DATABASE_URL. Each HostdServer asks :func:`new_database` for a fresh database
when it first starts (a restart keeps it); all of them are dropped when the session ends.
Without a server the tests skip, saying how to get one; with CI set they fail instead.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

URL_ENV = "HOSTD_TEST_DATABASE_URL"
URL_FILE = Path(os.environ.get("HOSTD_TEST_PG_DIR", "/var/tmp/hostd-test-pg")) / "url"
HOW = "run scripts/ensure-postgres (or set HOSTD_TEST_DATABASE_URL to an admin URL)"


class _State:
    backend = "sqlite"
    admin_url: str | None = None
    unavailable: str | None = None  # why --db postgres cannot run here
    created: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=("sqlite", "postgres"), default="sqlite",
                     help="the daemons' database: their own SQLite file, or a PostgreSQL "
                          "database each (scripts/ensure-postgres starts a server)")


def _admin_url() -> str | None:
    if os.environ.get(URL_ENV):
        return os.environ[URL_ENV]
    try:
        return URL_FILE.read_text().strip() or None
    except OSError:
        return None


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--db") != "postgres":
        return
    _State.backend = "postgres"
    url = _admin_url()
    if url is None:
        _State.unavailable = f"no PostgreSQL server for --db postgres: {HOW}"
        return
    try:
        _admin(url, "SELECT 1")
    except Exception as exc:  # any failure to connect: say why, never the password
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        _State.unavailable = f"PostgreSQL does not answer ({first}): {HOW}"
        return
    _State.admin_url = url


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _State.unavailable is None:
        return
    if os.environ.get("CI"):
        pytest.fail(_State.unavailable, pytrace=False)  # CI must not pass without it
    pytest.skip(_State.unavailable)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _State.admin_url is None:
        return
    for name in _State.created:
        # FORCE: a daemon killed by its test may have left a connection the server has
        # not noticed yet.
        _drop(_State.admin_url, name)
    _State.created.clear()


def _drop(url: str, name: str, tries: int = 10) -> None:
    """Drop a test database; tried again while the server refuses (an autovacuum worker
    on it, which a role without pg_signal_backend may not end, finishes within seconds)."""
    import psycopg

    for attempt in range(tries):
        try:
            _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == tries - 1:
                raise
            time.sleep(1)


def _admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement.encode())


def postgres() -> bool:
    """This session's daemons use PostgreSQL (`--db postgres`)."""
    return _State.backend == "postgres"


def new_database() -> str | None:
    """A new, empty database's URL (password included: pass it in the environment only);
    None when the session runs on SQLite."""
    if not postgres():
        return None
    if _State.admin_url is None:
        pytest.fail(_State.unavailable or "no PostgreSQL server", pytrace=False)
    name = f"hostd_t_{uuid.uuid4().hex[:12]}"
    _admin(_State.admin_url, f'CREATE DATABASE "{name}"')
    _State.created.append(name)
    from sqlalchemy.engine import make_url

    return make_url(_State.admin_url).set(database=name).render_as_string(hide_password=False)


def password() -> str | None:
    """The test server's password: it must never reach a daemon's log."""
    if _State.admin_url is None:
        return None
    from sqlalchemy.engine import make_url

    return make_url(_State.admin_url).password
