"""Abuse limits: the sliding window itself, and the daemon's 429s with Retry-After."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from pydantic import ValidationError as SettingsError

from hostd.config import Settings
from hostd.control.ratelimit import SlidingWindow
from tests.support import client_for, register, unique_email

PASSWORD = "s3cret-pass"
LOGIN = "/api/auth/login"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the window ---------------------------------------------------------------------------

def test_window_allows_limit_events_then_says_how_long_to_wait():
    clock = FakeClock()
    window = SlidingWindow(3, 60, clock=clock)
    for _ in range(3):
        assert window.retry_after("k") is None
        window.hit("k")
        clock.now += 10
    assert window.retry_after("k") == 30  # the first event leaves the window at t+60
    assert window.retry_after("other") is None
    clock.now += 30
    assert window.retry_after("k") is None


def test_window_reset_and_zero_limit():
    window = SlidingWindow(1, 60)
    window.hit("k")
    assert window.retry_after("k") is not None
    window.reset("k")
    assert window.retry_after("k") is None
    off = SlidingWindow(0, 60)
    for _ in range(100):
        off.hit("k")
    assert off.retry_after("k") is None and len(off) == 0


def test_window_memory_is_bounded():
    clock = FakeClock()
    window = SlidingWindow(5, 60, max_keys=100, clock=clock)
    for i in range(10_000):
        for _ in range(10):
            window.hit(f"key-{i}")
    assert len(window) <= 100
    assert all(len(events) <= 5 for events in window._events.values())
    clock.now += 61
    window.hit("fresh")
    assert window.retry_after("key-9999") is None  # expired keys go when room is needed


def test_window_counts_exactly_under_threads():
    window = SlidingWindow(10_000, 60)
    threads = [threading.Thread(target=lambda: [window.hit("k") for _ in range(500)])
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(window._events["k"]) == 4000


@pytest.mark.parametrize(("name", "value"), [
    ("HOSTD_LOGIN_WINDOW", "soon"), ("HOSTD_LOGIN_WINDOW", "0"),
    ("HOSTD_REGISTRATION_WINDOW", "-1m"), ("HOSTD_LOGIN_FAILS_PER_EMAIL", "-1"),
])
def test_limit_settings_are_validated(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError):
        Settings(data_dir=tmp_path)


def test_limit_settings_parse_durations(monkeypatch, tmp_path):
    monkeypatch.setenv("HOSTD_LOGIN_WINDOW", "15m")
    monkeypatch.setenv("HOSTD_REGISTRATION_WINDOW", "90")
    settings = Settings(data_dir=tmp_path)
    assert (settings.login_window_s, settings.registration_window_s) == (900, 90)
    assert (settings.login_fails_per_email, settings.login_fails_per_address,
            settings.registrations_per_address) == (10, 100, 60)


# --- the daemon -----------------------------------------------------------------------------

def login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post(LOGIN, json={"email": email, "password": password})


def assert_limited(resp: httpx.Response) -> int:
    assert resp.status_code == 429, resp.text
    body = resp.json()
    assert body["error"] == "RateLimited" and body["statusCode"] == 429
    wait = int(resp.headers["Retry-After"])
    assert wait >= 1
    return wait


def test_failed_logins_lock_the_email_even_for_the_right_password(make_hostd):
    server = make_hostd(HOSTD_LOGIN_FAILS_PER_EMAIL="3", HOSTD_LOGIN_WINDOW="3s")
    with client_for(server) as client:
        victim, bystander = unique_email("victim"), unique_email("bystander")
        register(client, email=victim)
        register(client, email=bystander)
        for _ in range(3):
            assert login(client, victim, "guess-guess").status_code == 401
        assert assert_limited(login(client, victim, "guess-again")) <= 3
        assert_limited(login(client, victim, PASSWORD))  # no oracle while locked
        assert_limited(login(client, victim.upper(), PASSWORD))  # normalised key
        # Other people on the same address log in as usual.
        assert login(client, bystander, PASSWORD).status_code == 200
        time.sleep(3.2)  # the window passes
        assert login(client, victim, PASSWORD).status_code == 200
    assert "guess" not in server.logs()


def from_address(server, address: str) -> httpx.Client:
    """A client whose connections come from `address` (any of 127.0.0.0/8 is this host's):
    the daemon tells clients apart by the socket's peer only."""
    transport = httpx.HTTPTransport(local_address=address)
    return client_for(server, transport=transport)


def test_a_locked_account_is_locked_only_for_the_address_that_failed(make_hostd):
    # Ten wrong passwords from anywhere must not keep the owner out everywhere.
    server = make_hostd(HOSTD_LOGIN_FAILS_PER_EMAIL="3", HOSTD_LOGIN_WINDOW="10m")
    with from_address(server, "127.0.0.2") as guesser, \
            from_address(server, "127.0.0.3") as owner:
        victim = unique_email("victim")
        register(owner, email=victim)
        for _ in range(3):
            assert login(guesser, victim, "guess-guess").status_code == 401
        assert_limited(login(guesser, victim, PASSWORD))  # no oracle for the guesser
        assert login(owner, victim, PASSWORD).status_code == 200
        # The owner's success clears their own failures, never the guesser's lock.
        assert_limited(login(guesser, victim, PASSWORD))
        for _ in range(3):
            assert login(owner, victim, "owner-typo").status_code == 401
        assert_limited(login(owner, victim, PASSWORD))  # the owner's address now, too
    with from_address(server, "127.0.0.4") as elsewhere:
        assert login(elsewhere, victim, PASSWORD).status_code == 200


def test_successful_logins_are_never_counted_and_clear_the_accounts_failures(make_hostd):
    server = make_hostd(HOSTD_LOGIN_FAILS_PER_EMAIL="3")
    with client_for(server) as client:
        email = unique_email("busy")
        register(client, email=email)
        for _ in range(20):
            assert login(client, email, PASSWORD).status_code == 200
        for _ in range(3):  # 2 typos and a success, three times over: never locked
            assert login(client, email, "typo-typo").status_code == 401
            assert login(client, email, "typo-typo").status_code == 401
            assert login(client, email, PASSWORD).status_code == 200


def test_failed_logins_per_address_and_registrations_per_address(make_hostd):
    server = make_hostd(HOSTD_LOGIN_FAILS_PER_EMAIL="100", HOSTD_LOGIN_FAILS_PER_ADDRESS="5",
                        HOSTD_REGISTRATIONS_PER_ADDRESS="3", HOSTD_REGISTRATION_WINDOW="1m")
    with client_for(server) as client:
        emails = [unique_email("sprayed") for _ in range(3)]
        for email in emails:
            register(client, email=email)
        resp = client.post("/api/auth/register", json={
            "email": unique_email(), "password": PASSWORD, "name": "One Too Many"})
        assert 1 <= assert_limited(resp) <= 60
        # Password spraying: one guess per account, many accounts.
        for i in range(5):
            assert login(client, emails[i % 3], f"spray-{i}").status_code == 401
        assert_limited(login(client, unique_email("next"), "spray-x"))
        assert_limited(login(client, emails[0], PASSWORD))
        # Invalid bodies are 400s and count toward nothing; the token routes are untouched.
        assert client.post(LOGIN, json={"email": "nope"}).status_code == 400
        assert client.get("/healthz").status_code == 200
