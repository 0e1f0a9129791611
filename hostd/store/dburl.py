"""DATABASE_URL as SQLAlchemy sees it: the scheme mapped to a driver, the driver checked,
and a form fit for a log.

`postgresql://` and `postgres://` (the forms other tools and hosting panels hand out) mean
psycopg 3, which hostd depends on; SQLAlchemy alone would pick psycopg2 for the first and
refuse the second. Any other SQLAlchemy URL works when its driver is installed.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

# Schemes that mean PostgreSQL on hostd's own driver.
_PSYCOPG_SCHEMES = {"postgresql", "postgres"}
# Driver module → what to `pip install` for it (else the module's own name).
_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "pg8000": "pg8000",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
}


class DatabaseUrlError(ValueError):
    """DATABASE_URL cannot be used; the message never holds its password."""


def parse(raw: str) -> URL:
    """The URL SQLAlchemy should open, its dialect and driver importable."""
    try:
        url = make_url(raw)
    except ArgumentError:
        # SQLAlchemy's message repeats the string, password and all.
        raise DatabaseUrlError(
            "not a database URL (postgresql://user:password@host:5432/name or "
            "sqlite:////path/to/hostd.db)") from None
    if url.drivername in _PSYCOPG_SCHEMES:
        url = url.set(drivername="postgresql+psycopg")
    check_driver(url)
    return url


def check_driver(url: URL) -> None:
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise DatabaseUrlError(
            f"no SQLAlchemy dialect for {url.drivername!r} "
            "(postgresql://… and sqlite:///… work out of the box)") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = (exc.name or url.get_driver_name()).split(".")[0]
        package = _PACKAGES.get(module, module)
        raise DatabaseUrlError(
            f"{url.drivername} needs the {module!r} driver, which is not installed: "
            f"pip install '{package}' (in hostd's environment)") from None


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def is_postgres_psycopg(url: URL) -> bool:
    """PostgreSQL through psycopg 3, whose async pool hostd.store.rows reads with."""
    return url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg"


def shown(url: URL) -> str:
    """The URL for a log line or an error message: the password as ***."""
    return url.render_as_string(hide_password=True)


def scrub(message: str, url: URL) -> str:
    """`message` without the URL's password, should a driver's error repeat it."""
    if url.password:
        return message.replace(str(url.password), "***")
    return message
