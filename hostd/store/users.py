"""Registering users and checking their credentials."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from hostd.errors import AuthError, Conflict
from hostd.store import auth, validation
from hostd.store.auth import PasswordHasher
from hostd.store.models import PasswordChange, RegisterBody, User

log = logging.getLogger("hostd.auth")
MAX_HANDLE_ATTEMPTS = 50


def email_taken(session: Session, email: str) -> bool:
    return session.exec(select(User.id).where(User.email == email)).first() is not None


def _free_handle(session: Session, base: str, start: int) -> tuple[str, int]:
    for attempt in range(start, MAX_HANDLE_ATTEMPTS + 1):
        handle = validation.handle_candidate(base, attempt)
        if session.exec(select(User.id).where(User.handle == handle)).first() is None:
            return handle, attempt
    raise Conflict(f"Could not find a free handle for {base!r}")


def register(session: Session, body: RegisterBody, hasher: PasswordHasher) -> User:
    if email_taken(session, body.email):
        raise Conflict("An account with this email already exists")
    password_hash = hasher.hash(body.password)
    base = validation.handle_base(body.email)
    attempt = 1
    # Unique constraints decide races: a lost race on the email is a 409, on the handle a retry.
    while attempt <= MAX_HANDLE_ATTEMPTS:
        handle, attempt = _free_handle(session, base, attempt)
        user = User(email=body.email, name=body.name, handle=handle, password_hash=password_hash)
        session.add(user)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            if email_taken(session, body.email):
                raise Conflict("An account with this email already exists") from None
            attempt += 1
            continue
        log.info("auth: registered user=%s handle=%s", user.id, user.handle)
        return user
    raise Conflict(f"Could not find a free handle for {base!r}")


def authenticate(session: Session, email: str, password: str, hasher: PasswordHasher) -> User:
    user = session.exec(select(User).where(User.email == email)).first()
    if not hasher.check(password, user.password_hash if user else None) or user is None:
        log.info("auth: login failed (%s)", "wrong password" if user else "unknown email")
        raise AuthError()
    log.info("auth: login user=%s", user.id)
    return user


def change_password(session: Session, user_id: str, body: PasswordChange,
                    hasher: PasswordHasher, *, keep_jti: str) -> None:
    """A new password for a caller who knows the current one (else AuthError); every
    other token of theirs is revoked in the same write, `keep_jti`'s stays valid."""
    user = session.get(User, user_id)  # the stored hash, not a cached copy's
    if user is None or not hasher.check(body.current_password, user.password_hash):
        log.info("auth: password change refused user=%s (wrong current password)", user_id)
        raise AuthError("The current password is wrong")
    new_hash = hasher.hash(body.new_password)
    auth.revoke_all(session, user_id, keep_jti=keep_jti, password_hash=new_hash)
    log.info("auth: password changed user=%s; its other tokens are revoked", user_id)
