"""A stream ends with its token: revoked (logout, logout-all, a password change) or expired.

`TokenWatch.ended()` returns, with the 401 the token would now get, once the token that
opened a stream is no longer good; `EventStreamResponse` then sends `end {reason, error,
statusCode}` and closes the stream.

Expiry is in the claims: the watch wakes for it. Revocation is looked up in the database
only when this daemon's token cache has counted a revocation of the stream's user since
the last look (one dict read a second otherwise), and once a minute anyway, which is how a
revocation made by another daemon on a shared database reaches this one's streams.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import anyio
from fastapi import Depends
from sqlalchemy import Engine

from hostd.api.deps import ClaimsDep, DbDep, TokenCacheDep, user_for_claims
from hostd.errors import TokenExpired, Unauthorized
from hostd.store.auth import TokenClaims, VerifiedTokenCache

CHECK_S = 1.0  # how soon a revocation in this daemon ends the stream
RECHECK_S = 60.0  # how soon one made elsewhere does


class TokenWatch:
    def __init__(self, claims: TokenClaims, db: Engine, cache: VerifiedTokenCache, *,
                 check_s: float = CHECK_S, recheck_s: float = RECHECK_S,
                 seen: int | None = None) -> None:
        """`seen`: the cache's revocation count of the user when the token was just found
        good (in the cache, or in the database): the first database look is then skipped,
        and any revocation since moves the count."""
        self.claims = claims
        self._seen = seen
        self._db = db
        self._cache = cache
        self._check_s = check_s
        self._recheck_s = recheck_s

    @property
    def user_id(self) -> str:
        return self.claims.user_id

    async def ended(self) -> Unauthorized:
        """Wait until the token is revoked or expires: the error it would get now."""
        # Read the count before the first look: a revocation after the look moves it.
        seen = self._cache.changes(self.user_id) if self._seen is None else self._seen
        looked = time.monotonic()
        revoked = await self._revoked() if self._seen is None else None
        while revoked is None:
            left = (self.claims.expires_at - datetime.now(UTC)).total_seconds()
            if left <= 0:
                return TokenExpired()
            await anyio.sleep(min(self._check_s, left))
            changes = self._cache.changes(self.user_id)
            if changes != seen or time.monotonic() - looked >= self._recheck_s:
                seen, looked = changes, time.monotonic()
                revoked = await self._revoked()
        return revoked

    async def _revoked(self) -> Unauthorized | None:
        try:
            await anyio.to_thread.run_sync(user_for_claims, self._db, self.claims)
        except Unauthorized as exc:
            return exc
        return None


async def get_token_watch(claims: ClaimsDep, db: DbDep, cache: TokenCacheDep) -> TokenWatch:
    return TokenWatch(claims, db, cache)


TokenWatchDep = Annotated[TokenWatch, Depends(get_token_watch)]
