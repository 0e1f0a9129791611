"""The project page's scheduled jobs in a real headless Chromium, against a daemon on
FakeRuntime (no engine; tests/fakes) with the scheduler's clock in the test's hands: each
job with its schedule, command, last run and next run, a failing one in red on the
overview, its output shown as text, and "Run now"."""

from __future__ import annotations

from pathlib import Path

from hostd.store.cron import job_id
from tests.control.conftest import SITE, deployed, until
from tests.control.test_cron import EVERY_MINUTE, Clock, app_json, job
from tests.deploy.conftest import make_repo
from tests.fakes.daemon import fake_daemon
from tests.plugins.browser import screenshots
from tests.support import unique_email
from tests.web.dashboard import PASSWORD

HOSTILE = "no route <img src=x onerror=alert(1)>"


def test_the_jobs_their_last_run_and_a_failing_one_show(page, tmp_path: Path, artifacts) -> None:
    clock = Clock()
    sync, tidy = job_id("./sync", EVERY_MINUTE), job_id("./tidy", "@daily")
    with fake_daemon(tmp_path / "data", HOSTD_CRON_TICK=60) as daemon:
        daemon.services.cron.clock = clock
        daemon.fake.script_command(["sh", "-c", "./sync"], exit_code=2, output=[HOSTILE])
        email = unique_email("cron")
        with daemon.client() as client:
            reply = client.post("/api/auth/register",
                                json={"email": email, "password": PASSWORD, "name": "Ada"})
            client.headers["Authorization"] = f"Bearer {reply.json()['token']}"
            files = {**SITE, "app.json": app_json(
                job("./sync"), {**job("./tidy", "forbid", "@daily"), "maintenance": True})}
            repo = make_repo(tmp_path / "repo", files)
            pid = deployed(client, lambda _: repo, "shop")["id"]
            clock.to_next()
            daemon.services.cron.tick()
            until(client, pid, lambda p: p["cron"]["failing"] == [sync])
        dash = f"http://hostd.localhost:{daemon.url.rsplit(':', 1)[1]}"
        page.goto(f"{dash}/signin")
        form = page.locator("#signin-form")
        form.get_by_label("Email").fill(email)
        form.get_by_label("Password").fill(PASSWORD)
        form.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{dash}/")
        page.goto(f"{dash}/projects/{pid}")
        page.locator("body[data-loaded=true]").wait_for()
        assert page.locator("#cron-failing").text_content() == f"failing: {sync}"
        row = page.locator(f"#cron tr[data-job='{sync}']")
        assert row.locator("td").nth(1).text_content() == EVERY_MINUTE
        assert row.locator(".cron-last").text_content().startswith("failed (exit 2)")
        assert "forbid, maintenance" in page.locator(f"#cron tr[data-job='{tidy}']").text_content()
        row.get_by_role("button", name="Output").click()
        page.locator("#cron-output", has_text="no route").wait_for()
        assert page.locator("#cron-output").text_content() == HOSTILE  # text, not markup
        assert page.locator("#cron-output img").count() == 0
        screenshots(page, artifacts, "project-cron")
        daemon.fake.script_command(["sh", "-c", "./sync"], exit_code=0)
        row.get_by_role("button", name="Run now").click()
        page.locator("#message", has_text=f"job {sync}: started").wait_for()
        page.locator("#cron-failing", has_text="–").wait_for()  # the cron_run event's reload
        page.goto("about:blank")  # its event streams end before the daemon stops
