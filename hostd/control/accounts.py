"""Accounts an operator makes (`hostd users add`): on the configured database, whether
the daemon runs or not, and the only way in while HOSTD_REGISTRATION=closed."""

from __future__ import annotations

from sqlmodel import Session

from hostd.config import Settings
from hostd.store import db, users
from hostd.store.auth import PasswordHasher
from hostd.store.models import RegisterBody, User


def add_user(settings: Settings, email: str, name: str, password: str) -> User:
    """Store a new account as registration would. Raises pydantic's ValidationError for
    a bad email, name or password, Conflict for a taken email, DatabaseUrlError and
    SQLAlchemyError for a database it cannot use."""
    body = RegisterBody(email=email, name=name, password=password)
    settings.ensure_data_dir()
    engine = db.make_engine(settings.database_uri, threads=2)
    try:
        # As the daemon does at start (hostd.services): the install's id is decided before
        # a schema exists, so a fresh install made here is not taken for an old one.
        settings.with_instance(existing_database=db.has_schema(engine))
        db.migrate(engine)
        with Session(engine) as session:
            return users.register(session, body, PasswordHasher(settings.bcrypt_rounds))
    finally:
        engine.dispose()
