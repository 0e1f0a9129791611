"""Passwords and tokens: bcrypt hashing, JWT issue / verify / revoke.

A token is revoked on its own (logout: its `jti` in revoked_tokens) or with every other
token of its user (logout-all, a password change): each user has a token generation,
each token carries the one it was issued in (`gen`, 0 when absent), and a token of an
older generation is refused, except the user's `kept_jti` (the token that changed the
password stays valid).

A browser session's token (hostd.api.session) is a kind of its own: `kind: "session"`,
and `sat`, when it was signed in. It lives `session_idle_s` and is renewed on use with the
same `jti` (so revoking that `jti` revokes every renewal), never past `sat` plus the
ordinary lifetime. A Bearer token has no `kind`; each path refuses the other's kind.

Everything here is blocking (bcrypt is slow on purpose; revocation reads the DB),
so callers run it in the thread pool: sync routes do.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import bcrypt
import jwt
from sqlalchemy import delete, update
from sqlmodel import Session, col

from hostd.errors import TokenExpired, Unauthorized
from hostd.store.models import RevokedToken, User, utcnow
from hostd.store.validation import PASSWORD_MAX_BYTES

log = logging.getLogger("hostd.auth")
ALGORITHM = "HS256"


SESSION_KIND = "session"


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    email: str
    jti: str
    expires_at: datetime
    generation: int = 0
    issued_at: datetime | None = None
    # A browser session's: when no renewal of it may live past (sign-in + lifetime).
    session_ends_at: datetime | None = None

    @property
    def is_session(self) -> bool:
        return self.session_ends_at is not None

    @property
    def revocable_until(self) -> datetime:
        """How long a revocation of this `jti` must be kept: past every renewal's expiry."""
        return self.session_ends_at or self.expires_at


def _bcrypt_slots() -> int:
    # Leave a core for everything else: a burst of logins must not stall the API.
    return max(1, (os.cpu_count() or 2) - 1)


class PasswordHasher:
    """bcrypt with configurable rounds, and a dummy hash so unknown emails cost the same.

    At most `slots` hashes run at once (cores - 1): bcrypt is CPU-bound by design, and
    sixteen logins at once would otherwise take every core from the other requests.
    """

    def __init__(self, rounds: int, slots: int | None = None) -> None:
        self.rounds = rounds
        self._slots = threading.BoundedSemaphore(slots or _bcrypt_slots())
        self._dummy = self.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        with self._slots:
            return bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.rounds)).decode()

    def check(self, password: str, hashed: str | None) -> bool:
        # No stored password is over bcrypt's 72 bytes (registration refuses them) and
        # bcrypt >= 5 raises on longer input: check a truncated copy, then refuse it.
        raw = password.encode()
        fits = len(raw) <= PASSWORD_MAX_BYTES
        # Spend one bcrypt check even when there is no user: no timing oracle on emails.
        with self._slots:
            ok = bcrypt.checkpw(raw[:PASSWORD_MAX_BYTES], (hashed or self._dummy).encode())
        return ok and fits and hashed is not None


class TokenService:
    def __init__(self, secret: str, lifetime_s: int, session_idle_s: int = 8 * 3600) -> None:
        self._secret = secret
        self.lifetime_s = lifetime_s
        self.session_idle_s = min(session_idle_s, lifetime_s)
        # A session is renewed once its token is this old: not on every request.
        self.renew_after_s = min(self.session_idle_s / 8, 600.0)

    def issue(self, user: User) -> str:
        now = datetime.now(UTC)
        return self._encode(user.id, user.email, secrets.token_hex(16), user.token_generation,
                            now, now + timedelta(seconds=self.lifetime_s))

    def issue_session(self, user: User) -> str:
        """A browser session's token (hostd.api.session): `session_idle_s` to live."""
        now = datetime.now(UTC)
        return self._encode(user.id, user.email, secrets.token_hex(16), user.token_generation,
                            now, now + timedelta(seconds=self.session_idle_s), session_at=now)

    def renewal(self, claims: TokenClaims) -> tuple[str, datetime] | None:
        """A session token used now, renewed, and its expiry: the same session (`jti`),
        `session_idle_s` from now but never past its end; None while it is young or
        cannot live longer."""
        now = datetime.now(UTC)
        if claims.session_ends_at is None or claims.issued_at is None:
            return None
        if (now - claims.issued_at).total_seconds() < self.renew_after_s:
            return None
        expires = min(now + timedelta(seconds=self.session_idle_s), claims.session_ends_at)
        if expires <= claims.expires_at:
            return None
        session_at = claims.session_ends_at - timedelta(seconds=self.lifetime_s)
        token = self._encode(claims.user_id, claims.email, claims.jti, claims.generation, now,
                             expires, session_at=session_at)
        return token, expires

    def _encode(self, user_id: str, email: str, jti: str, generation: int, now: datetime,
                expires: datetime, session_at: datetime | None = None) -> str:
        claims: dict[str, Any] = {"userId": user_id, "email": email, "jti": jti,
                                  "gen": generation, "iat": now, "exp": expires}
        if session_at is not None:
            claims.update(kind=SESSION_KIND, sat=int(session_at.timestamp()))
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def csrf_token(self, jti: str) -> str:
        """The secret a browser session echoes in `X-CSRF-Token` on changes
        (hostd.api.session): derived from the token's `jti`, so nothing new is stored, and
        unknowable without the signing secret."""
        mac = hmac.new(self._secret.encode(), b"hostd-csrf:" + jti.encode(), hashlib.sha256)
        return mac.hexdigest()

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
        generation = claims.get("gen", 0)  # tokens from before generations have none
        if (not isinstance(claims["userId"], str) or not isinstance(claims["jti"], str)
                or type(generation) is not int):
            raise Unauthorized("The token is not valid: log in again")
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        return TokenClaims(claims["userId"], str(claims.get("email", "")), claims["jti"], expires,
                           generation, datetime.fromtimestamp(claims["iat"], UTC),
                           self._session_end(claims))

    def _session_end(self, claims: dict[str, Any]) -> datetime | None:
        kind, signed_in = claims.get("kind"), claims.get("sat")
        if kind is None:
            return None
        if kind != SESSION_KIND or type(signed_in) is not int:
            raise Unauthorized("The token is not valid: log in again")
        return datetime.fromtimestamp(signed_in, UTC) + timedelta(seconds=self.lifetime_s)


def is_current(claims: TokenClaims, user: User) -> bool:
    """False once logout-all or a password change revoked the token (see the module doc)."""
    return claims.generation >= user.token_generation or claims.jti == user.kept_jti


def revoke(session: Session, claims: TokenClaims) -> None:
    if session.get(RevokedToken, claims.jti) is None:
        session.add(RevokedToken(jti=claims.jti, expires_at=claims.revocable_until))
    # Expired tokens are refused by their signature already: their rows can go.
    session.exec(delete(RevokedToken).where(col(RevokedToken.expires_at) < utcnow()))
    session.commit()


def revoke_all(session: Session, user_id: str, *, keep_jti: str | None = None,
               password_hash: str | None = None) -> None:
    """Every token of the user issued so far stops working, but `keep_jti`'s; with
    `password_hash`, the password changes in the same write."""
    values: dict[str, Any] = {"token_generation": col(User.token_generation) + 1,
                              "kept_jti": keep_jti}
    if password_hash is not None:
        values["password_hash"] = password_hash
    session.exec(update(User).where(col(User.id) == user_id).values(**values))
    session.commit()


@dataclass(frozen=True)
class _Verified:
    claims: TokenClaims
    user: User
    until: float


class VerifiedTokenCache:
    """Tokens verified in the last few seconds, with their user, kept in memory.

    Verifying a JWT and loading its user cost more than the rest of a small request; a
    client sends the same token again and again. An entry lives `ttl_s` at most and never
    past the token's expiry; a revocation in this daemon drops it at once. Another daemon
    on a shared database sees a revocation within `ttl_s`.

    It also counts this daemon's revocations per user (`changes`): a long-lived stream
    rechecks its token only when its user's count moves (hostd.api.tokenwatch).
    """

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, _Verified] = {}
        self._changes: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[TokenClaims, User] | None:
        entry = self._entries.get(token)
        if entry is None or entry.until < time.monotonic():
            return None
        return entry.claims, entry.user

    def put(self, token: str, claims: TokenClaims, user: User) -> None:
        left = (claims.expires_at - datetime.now(UTC)).total_seconds()
        until = time.monotonic() + min(self.ttl_s, left)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # rare; simpler than LRU and always correct
            self._entries[token] = _Verified(claims, user, until)

    def forget(self, user_id: str, jti: str | None = None) -> None:
        """After a revocation: drop the user's entries (only `jti`'s when given)."""
        def kept(entry: _Verified) -> bool:
            return entry.claims.user_id != user_id or jti not in (None, entry.claims.jti)

        with self._lock:
            self._entries = {t: e for t, e in self._entries.items() if kept(e)}
            self._changes[user_id] = self._changes.get(user_id, 0) + 1

    def changes(self, user_id: str) -> int:
        return self._changes.get(user_id, 0)
