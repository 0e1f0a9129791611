"""Abuse limits: failed logins per account and client address, failed logins per address,
registrations per address.

The account's lock is keyed by the email *and* the address that failed: a guesser who
reaches the limit locks the account for its own address only, never for its owner
elsewhere (ten wrong passwords must not be a way to keep someone out). The per-address
limit still bounds what one address may try across all accounts.

Each limit is a sliding window kept in memory (`SlidingWindow`): a key may record at
most `limit` events in any `window_s` seconds. Memory stays bounded: a key holds at most
`limit` timestamps, and the number of keys is capped (expired keys are pruned first,
then the least recently used go). State is per daemon process and is lost on restart,
which is acceptable for limits measured in minutes.

Sync routes run in the thread pool, so every method takes the lock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from hostd.config import Settings
from hostd.errors import RateLimited

log = logging.getLogger("hostd.ratelimit")
MAX_KEYS = 50_000


class SlidingWindow:
    """At most `limit` events per key in any `window_s` seconds; `limit` 0 turns it off."""

    def __init__(self, limit: int, window_s: float, *, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may act again, or None when it is under its limit."""
        if self.limit <= 0:
            return None
        with self._lock:
            events = self._current(key, self._clock())
            if events is None or len(events) < self.limit:
                return None
            return max(1, math.ceil(events[0] + self.window_s - self._clock()))

    def hit(self, key: str) -> None:
        if self.limit <= 0:
            return
        with self._lock:
            now = self._clock()
            events = self._current(key, now)
            if events is None:
                self._make_room(now)
                events = self._events[key] = deque(maxlen=self.limit)
            events.append(now)
            self._events.move_to_end(key)

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)

    def __len__(self) -> int:
        return len(self._events)

    def _current(self, key: str, now: float) -> deque[float] | None:
        """The key's events inside the window (older ones dropped); None if it has none."""
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def _make_room(self, now: float) -> None:
        if len(self._events) < self.max_keys:
            return
        # Expired keys first (a full pass, but only when the table is full) ...
        for key in [k for k, ev in self._events.items() if ev[-1] <= now - self.window_s]:
            del self._events[key]
        # ... then the least recently active: under a flood of new keys, forgetting an old
        # key errs towards letting someone in, never towards locking everyone out.
        while len(self._events) >= self.max_keys:
            self._events.popitem(last=False)


@dataclass
class AuthLimits:
    """The three limits the auth routes apply, built from the settings."""

    fails_per_email: SlidingWindow
    fails_per_address: SlidingWindow
    registrations_per_address: SlidingWindow

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthLimits:
        return cls(
            SlidingWindow(settings.login_fails_per_email, settings.login_window_s),
            SlidingWindow(settings.login_fails_per_address, settings.login_window_s),
            SlidingWindow(settings.registrations_per_address, settings.registration_window_s),
        )

    def check_login(self, email: str, address: str) -> None:
        """Refuse any login, even with the right password, while the email is locked for
        this address or the address is: otherwise a 200 among the 429s would tell a
        guesser they found it."""
        wait = self.fails_per_email.retry_after(_account_key(email, address))
        if wait is not None:
            raise RateLimited(
                "Too many failed logins for this account from this address: try again in "
                f"{wait} s", retry_after=wait)
        wait = self.fails_per_address.retry_after(address)
        if wait is not None:
            raise RateLimited(
                f"Too many failed logins from this address: try again in {wait} s",
                retry_after=wait)

    def login_failed(self, email: str, address: str) -> None:
        key = _account_key(email, address)
        self.fails_per_email.hit(key)
        self.fails_per_address.hit(address)
        if self.fails_per_email.retry_after(key) is not None:
            log.warning("auth: an account is locked for one address after %d failed logins",
                        self.fails_per_email.limit)

    def login_succeeded(self, email: str, address: str) -> None:
        # Only the account's own failures from this address are forgotten: resetting the
        # address would let anyone with an account clear the counter that slows their
        # password spraying.
        self.fails_per_email.reset(_account_key(email, address))

    def check_registration(self, address: str) -> None:
        wait = self.registrations_per_address.retry_after(address)
        if wait is not None:
            raise RateLimited(f"Too many registrations from this address: try again in {wait} s",
                              retry_after=wait)
        self.registrations_per_address.hit(address)


def _account_key(email: str, address: str) -> str:
    # The NUL occurs in neither part, so no two pairs share a key.
    return f"{email.strip().lower()}\0{address}"
