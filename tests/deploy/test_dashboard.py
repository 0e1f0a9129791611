"""The dashboard with real deploys: in headless Chromium against the deploy daemon and
the real engine, on the dashboard's own name (http://hostd.localhost:<port>). One static
project, created from the page, serves the whole module (tests in order): it deploys
live, its requests/s rise, it stops and starts, a config var is set, it rolls back, and
it is deleted with a typed confirmation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.deploy.conftest import make_repo
from tests.plugins.browser import open_page, screenshots
from tests.support import HostdServer, tls
from tests.web.dashboard import dashboard_host, dashboard_url
from tests.web.test_browser import HOSTILE, csrf_of, register_in_page

DEPLOY_MS = 240_000


@pytest.fixture(scope="module")
def dash(browser, deploy_hostd: HostdServer, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """One signed-in page and the state the tests pass along."""
    page = open_page(browser)
    register_in_page(page, deploy_hostd)
    repo = make_repo(tmp_path_factory.mktemp("dash-repo"),
                     {"index.html": "<!doctype html><h1>dashboard test</h1>\n"})
    state = {"page": page, "server": deploy_hostd, "repo": repo}
    yield state
    if "id" in state:  # the delete test did not run or failed: remove it by the API
        api(state, "DELETE", f"/api/projects/{state['id']}")
    page.context.close()


def api(dash: dict[str, Any], method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The API with the page's own session (cookie and CSRF token), as the page calls it."""
    page, server = dash["page"], dash["server"]
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}["hostd_session"]
    headers = {**dashboard_host(server), "Cookie": f"hostd_session={cookie}",
               "X-CSRF-Token": csrf_of(page)}
    with httpx.Client(base_url=server.url, verify=tls()) as client:
        return client.request(method, path, headers=headers, **kwargs)


def test_create_a_static_project_and_watch_it_deploy(dash, artifacts):
    page = dash["page"]
    page.evaluate("window.notReloaded = true")
    form = page.locator("#create-form")
    form.get_by_label("Name").fill("dash")
    form.get_by_label("Repository URL").fill(dash["repo"])
    form.get_by_label("Template").select_option("static")
    form.get_by_role("button", name="Create and deploy").click()
    row = page.locator("#rows tr", has_text="dash")
    row.locator(".badge", has_text="deploying").wait_for()
    assert page.locator("#steps li").count() == 7
    row.locator(".badge[data-status=running]").wait_for(timeout=DEPLOY_MS)
    page.locator("#deploy-title", has_text="Deployed").wait_for()
    assert page.evaluate("window.notReloaded") is True  # live, without a reload
    assert page.locator("#steps li[data-state=done]").count() == 7
    assert page.locator("#build-log").text_content()
    dash["id"] = row.get_attribute("data-id")
    dash["url"] = row.locator("td[data-label=URL] a").get_attribute("href")
    screenshots(page, artifacts, "projects")
    assert page.problems == [] and page.blocked == []


def test_requests_per_second_rise_while_the_url_is_requested(dash):
    page, server = dash["page"], dash["server"]
    host = urlsplit(dash["url"]).netloc
    row = page.locator(f"#rows tr[data-id='{dash['id']}']")
    deadline = time.monotonic() + 30
    sent = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{server.router_port}", verify=tls(),
                      headers={"Host": host, "User-Agent": HOSTILE}) as router:
        while time.monotonic() < deadline:  # bounded: 30 s at most
            for _ in range(20):
                assert router.get("/").status_code == 200
                sent += 1
            rps = row.get_attribute("data-rps") or ""
            if rps and float(rps) > 1:
                break
            time.sleep(0.1)
    assert rps and float(rps) > 1, f"requests/s stayed {rps!r} after {sent} requests"
    assert row.locator("td[data-label=Requests] .val").text_content().endswith("/s")
    assert row.locator("td[data-label=Requests] polyline").get_attribute("points")


def test_the_project_page_shows_logs_as_text_and_stops_and_starts(dash, artifacts):
    page = dash["page"]
    page.locator(f"#rows tr[data-id='{dash['id']}'] th a").click()
    page.locator("body[data-loaded=true]").wait_for()
    log = page.locator("#log")
    log.filter(has_text=HOSTILE).wait_for()  # the access log line with that User-Agent
    assert log.locator("img").count() == 0
    screenshots(page, artifacts, "project")
    page.get_by_role("button", name="Stop", exact=True).click()
    page.locator("#status[data-status=stopped]").wait_for(timeout=60_000)
    page.get_by_role("button", name="Start", exact=True).click()
    page.locator("#status[data-status=running]").wait_for(timeout=60_000)
    assert api(dash, "GET", f"/api/projects/{dash['id']}").json()["project"]["status"] == "running"
    assert page.problems == [], page.problems


def test_a_config_var_is_set_hidden_and_revealed(dash):
    page = dash["page"]
    form = page.locator("#var-form")
    form.get_by_label("Name").fill("GREETING")
    form.get_by_label("Value").fill("<b>hello</b>")
    form.get_by_role("button", name="Set").click()
    page.locator("#message", has_text="GREETING saved").wait_for(timeout=60_000)
    value = page.locator("#vars tr[data-name=GREETING] .value")
    assert value.text_content() == "••••••••"
    page.get_by_role("button", name="Reveal GREETING").click()
    assert value.text_content() == "<b>hello</b>"
    assert api(dash, "GET", f"/api/projects/{dash['id']}/env").json()["env"] == {
        "GREETING": "<b>hello</b>"}


def test_roll_back_says_what_it_does_and_does_it(dash):
    page = dash["page"]
    # v2: the config change, shown current once its answer came (the page reloads its
    # releases then, not only when a status event says running).
    page.locator("#releases tr[data-version='2']", has_text="(current)").wait_for()
    button = page.get_by_role("button", name="Roll back to v1")
    button.click()
    page.locator("#message", has_text="Makes v3 from v1").wait_for()
    page.get_by_role("button", name="Confirm: roll back to v1").click()
    page.locator("#releases tr[data-version='3']").wait_for(timeout=60_000)
    assert "(current)" in page.locator("#releases tr[data-version='3']").text_content()
    assert api(dash, "GET", f"/api/projects/{dash['id']}/env").json()["env"] == {}


def test_delete_needs_the_name_typed(dash):
    page = dash["page"]
    confirm = page.get_by_label("Type the project's name to confirm")
    delete = page.get_by_role("button", name="Delete project")
    confirm.fill("das")
    assert delete.is_disabled()
    confirm.fill("dash")
    delete.click()
    page.wait_for_url(f"{dashboard_url(dash['server'])}/", timeout=60_000)
    assert api(dash, "GET", f"/api/projects/{dash['id']}").status_code == 404
    del dash["id"]
    assert page.problems == [], page.problems
