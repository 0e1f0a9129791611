"""DATABASE_URL (hostd/store/dburl.py): the PostgreSQL schemes mean psycopg 3, a URL that
cannot be used stops start-up in one line naming the variable (and the package to
install), and its password reaches neither a log nor an error."""

from __future__ import annotations

import pytest

from hostd.store import dburl
from tests.plugins import postgres
from tests.support import HostdServer

PASSWORD = "hunter2-not-logged"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgres_schemes_mean_psycopg_3(scheme):
    url = dburl.parse(f"{scheme}://app:{PASSWORD}@db.example:5433/hostd")
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.password) == (
        "db.example", 5433, "hostd", PASSWORD)
    assert dburl.shown(url) == "postgresql+psycopg://app:***@db.example:5433/hostd"
    assert not dburl.is_sqlite(url)


def test_sqlite_urls_stay_as_they_are():
    url = dburl.parse("sqlite:////var/lib/hostd/hostd.db")
    assert url.drivername == "sqlite" and dburl.is_sqlite(url)


@pytest.mark.parametrize(("raw", "says"), [
    (f"mysql+pymysql://app:{PASSWORD}@127.0.0.1/hostd", "pip install 'PyMySQL'"),
    (f"postgresql+psycopg2://app:{PASSWORD}@127.0.0.1/hostd", "pip install 'psycopg2-binary'"),
    (f"nosuchdb://app:{PASSWORD}@127.0.0.1/hostd", "no SQLAlchemy dialect for 'nosuchdb'"),
    (f"not a url {PASSWORD}", "not a database URL"),
])
def test_unusable_urls_are_refused_without_their_password(raw, says):
    with pytest.raises(dburl.DatabaseUrlError) as info:
        dburl.parse(raw)
    assert says in str(info.value)
    assert PASSWORD not in str(info.value)


def test_scrub_hides_a_password_a_driver_repeats():
    url = dburl.parse(f"postgresql://app:{PASSWORD}@127.0.0.1/hostd")
    assert dburl.scrub(f"failed for {PASSWORD}", url) == "failed for ***"


# Each case is a real `hostd serve`: a missing driver, and a server that is not there.
@pytest.mark.parametrize(("url", "says"), [
    (f"mysql+pymysql://app:{PASSWORD}@127.0.0.1/hostd", "pip install 'PyMySQL'"),
    (f"postgresql://app:{PASSWORD}@127.0.0.1:1/hostd", "cannot open the database"),
])
def test_serve_stops_with_one_line_and_no_password(tmp_path, url, says):
    server = HostdServer(data_dir=tmp_path / "data", env_overrides={"DATABASE_URL": url})
    result = server.run("serve", timeout=30)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hostd: invalid setting DATABASE_URL: ")
    assert says in lines[0]
    assert PASSWORD not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_the_start_up_line_names_the_database_without_its_password(hostd):
    line = hostd.wait_for_log(r"database (\S+), instance").group(1)
    if postgres.postgres():
        assert line.startswith("postgresql+psycopg://hostd_test:***@127.0.0.1:")
        assert postgres.password() not in hostd.logs()
    else:
        assert line == f"sqlite:///{hostd.data_dir / 'hostd.db'}"
