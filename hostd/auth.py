"""Passwords and tokens: bcrypt hashing, JWT issue / verify / revoke.

Everything here is blocking (bcrypt is slow on purpose; revocation reads the DB),
so callers run it in the thread pool: sync routes do.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bcrypt
import jwt
from sqlalchemy import delete
from sqlmodel import Session

from hostd.errors import TokenExpired, Unauthorized
from hostd.models import RevokedToken, User, utcnow
from hostd.validation import PASSWORD_MAX_BYTES

log = logging.getLogger("hostd.auth")
ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    email: str
    jti: str
    expires_at: datetime


class PasswordHasher:
    """bcrypt with configurable rounds, and a dummy hash so unknown emails cost the same."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy = self.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.rounds)).decode()

    def check(self, password: str, hashed: str | None) -> bool:
        # No stored password is over bcrypt's 72 bytes (registration refuses them) and
        # bcrypt >= 5 raises on longer input: check a truncated copy, then refuse it.
        raw = password.encode()
        fits = len(raw) <= PASSWORD_MAX_BYTES
        # Spend one bcrypt check even when there is no user: no timing oracle on emails.
        ok = bcrypt.checkpw(raw[:PASSWORD_MAX_BYTES], (hashed or self._dummy).encode())
        return ok and fits and hashed is not None


class TokenService:
    def __init__(self, secret: str, lifetime_s: int) -> None:
        self._secret = secret
        self.lifetime_s = lifetime_s

    def issue(self, user: User) -> str:
        now = datetime.now(UTC)
        claims = {
            "userId": user.id,
            "email": user.email,
            "jti": secrets.token_hex(16),
            "iat": now,
            "exp": now + timedelta(seconds=self.lifetime_s),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "jti", "userId"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is not valid: log in again") from exc
        if not isinstance(claims["userId"], str) or not isinstance(claims["jti"], str):
            raise Unauthorized("The token is not valid: log in again")
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        return TokenClaims(claims["userId"], str(claims.get("email", "")), claims["jti"], expires)


def is_revoked(session: Session, jti: str) -> bool:
    return session.get(RevokedToken, jti) is not None


def revoke(session: Session, claims: TokenClaims) -> None:
    if session.get(RevokedToken, claims.jti) is None:
        session.add(RevokedToken(jti=claims.jti, expires_at=claims.expires_at))
    # Expired tokens are refused by their signature already: their rows can go.
    session.exec(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    session.commit()
