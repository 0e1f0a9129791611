"""The dashboard in a real headless Chromium against the session daemon (no engine), on
its own name http://hostd.localhost:<port> (Chromium resolves `*.localhost` itself):
register, sign in, what a hostile name does, sign out, the live stream, where its cookie
goes (not to other ports of 127.0.0.1) and where `next=` may send it, and the API docs
offline. Each page is screenshotted at 1280×800 and 360×740 (tests/plugins/browser.py)."""

from __future__ import annotations

import httpx

from tests.plugins.browser import screenshots
from tests.support import HostdServer, tls, unique_email
from tests.web.dashboard import PASSWORD, dashboard_host, dashboard_url

HOSTILE = "<img src=x onerror=alert(1)>"


def register_in_page(page, hostd: HostdServer, name: str = "Ada Browser") -> str:
    email = unique_email("browser")
    page.goto(f"{dashboard_url(hostd)}/signin#register")
    form = page.locator("#register-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{dashboard_url(hostd)}/")
    page.locator("body[data-loaded=true]").wait_for()
    return email


def session_cookie(page) -> dict:
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "hostd_session"]
    return cookie


def csrf_of(page) -> str:
    """The session's CSRF token, where the page keeps it (its origin's storage only)."""
    return page.evaluate("localStorage.getItem('hostd.csrf')")


def test_register_sign_out_and_sign_in_again(page, hostd, artifacts):
    dash = dashboard_url(hostd)
    page.goto(f"{hostd.url}/")  # 127.0.0.1: to the dashboard's own name
    page.wait_for_url(f"{dash}/signin?next=%2F")  # not signed in: to the sign-in page
    screenshots(page, artifacts, "signin")
    email = register_in_page(page, hostd)
    assert page.locator("#who").text_content() == "Ada Browser"
    assert page.locator("#empty").is_visible()
    screenshots(page, artifacts, "projects-empty")
    cookie = session_cookie(page)
    assert cookie["domain"] == "hostd.localhost"  # host-only there
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert page.evaluate("document.cookie") == ""  # no script can read it
    stored = "[...Object.keys(localStorage), ...Object.keys(sessionStorage)]"
    assert page.evaluate(stored) == ["hostd.csrf"]  # the CSRF token, and nothing else
    csrf = csrf_of(page)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{dash}/signin")
    assert page.evaluate(stored) == []
    with httpx.Client(base_url=hostd.url, verify=tls()) as api:
        resp = api.get("/api/auth/me", headers={
            **dashboard_host(hostd), "Cookie": f"hostd_session={cookie['value']}",
            "X-CSRF-Token": csrf})
    assert resp.status_code == 401 and resp.json()["error"] == "Unauthorized"

    form = page.locator("#signin-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill("wrong-password")
    form.get_by_role("button", name="Sign in").click()
    page.locator("#message", has_text="Wrong email or password").wait_for()
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{dash}/")
    page.locator("#who", has_text="Ada Browser").wait_for()
    assert page.problems == [] and page.blocked == []


def test_a_hostile_name_is_shown_as_text(page, hostd):
    register_in_page(page, hostd, name=HOSTILE)
    assert page.locator("#who").text_content() == HOSTILE
    assert page.locator("header img").count() == 0
    assert page.problems == []  # no alert() dialog, no CSP violation, no error


def test_the_keyboard_reaches_the_create_form(page, hostd):
    register_in_page(page, hostd)
    focused = set()
    for _ in range(15):
        page.keyboard.press("Tab")
        active = "document.activeElement.name || document.activeElement.textContent"
        focused.add(page.evaluate(active))
    assert {"name", "github_url", "template", "Create and deploy", "Sign out"} <= focused


def test_a_project_page_of_nobody_says_so(page, hostd):
    register_in_page(page, hostd)
    page.goto(f"{dashboard_url(hostd)}/projects/doesnotexist")
    page.locator("#message", has_text="No such project").wait_for()


def test_docs_render_their_operations_offline(page, hostd, artifacts):
    page.goto(f"{hostd.url}/docs")
    page.locator(".opblock").first.wait_for()
    operations = page.locator(".opblock").count()
    with httpx.Client(base_url=hostd.url, verify=tls()) as api:
        spec = api.get("/openapi.json").json()
    expected = sum(len(ops) for ops in spec["paths"].values())
    assert operations == expected
    assert page.get_by_text("/api/auth/session").count() >= 1
    screenshots(page, artifacts, "docs", scales_text=False, full_page=False)
    page.goto(f"{hostd.url}/redoc")
    page.locator("[data-section-id]").first.wait_for()
    assert page.get_by_text("/api/auth/session").count() >= 1
    screenshots(page, artifacts, "redoc", scales_text=False, full_page=False)
    assert page.blocked == []  # nothing reached the network beyond loopback
    # ReDoc's side menu links a logo on cdn.redoc.ly: the policy stops it in the browser.
    refused = [p for p in page.problems if "Content Security Policy" in p]
    assert all("https://cdn.redoc.ly/redoc/logo-mini.svg" in p for p in refused), refused


def test_a_page_cannot_be_reached_through_a_foreign_name(hostd):
    """DNS rebinding: the pages answer only hostd's own names, like the API."""
    with httpx.Client(verify=tls()) as api:
        resp = api.get(f"{hostd.url}/", headers={"Host": "attacker.example"})
    assert resp.status_code == 400 and resp.json()["error"] == "ValidationError"
