"""The project page's Processes card in a real headless Chromium, against a daemon on
FakeRuntime (no engine; tests/fakes): each replica with its state, restarts, CPU, memory
and uptime; Scale (a PATCH of the formation with the session's CSRF token) brings the
new replica into the table, and web scaled to 0 takes web.1 out of it; the runtime log
shows each line after its process."""

from __future__ import annotations

from pathlib import Path

from tests.control.conftest import deployed
from tests.control.test_formation import APP, running_of, settled
from tests.deploy.conftest import make_repo
from tests.fakes.daemon import fake_daemon
from tests.plugins.browser import screenshots
from tests.support import unique_email
from tests.web.dashboard import PASSWORD

HOSTILE = "job <img src=x onerror=alert(1)> done"


def test_the_processes_card_lists_replicas_and_scales(page, tmp_path: Path, artifacts) -> None:
    with fake_daemon(tmp_path / "data", HOSTD_METRICS_INTERVAL=0.5) as daemon:
        email = unique_email("procs")
        with daemon.client() as client:
            reply = client.post("/api/auth/register",
                                json={"email": email, "password": PASSWORD, "name": "Ada"})
            client.headers["Authorization"] = f"Bearer {reply.json()['token']}"
            repo = make_repo(tmp_path / "repo", APP)
            pid = deployed(client, lambda _: repo, "shop", files=APP)["id"]
            settled(daemon, client, pid, 1, 1)
            (worker,) = running_of(daemon, pid, "worker")
            daemon.fake.write_log(worker.id, HOSTILE)
        dash = f"http://hostd.localhost:{daemon.url.rsplit(':', 1)[1]}"
        page.goto(f"{dash}/signin")
        form = page.locator("#signin-form")
        form.get_by_label("Email").fill(email)
        form.get_by_label("Password").fill(PASSWORD)
        form.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{dash}/")
        page.goto(f"{dash}/projects/{pid}")
        page.locator("body[data-loaded=true]").wait_for()
        assert page.locator("#processes-card").is_visible()
        rows = page.locator("#processes tr")
        assert rows.locator("td:first-child").all_text_contents() == ["web.1", "worker.1"]
        assert page.locator("#processes tr[data-process='worker.1'] .process-state"
                            ).text_content() == "running"
        page.locator("#log", has_text=f"worker.1 | {HOSTILE}").wait_for()
        assert page.locator("#log img").count() == 0  # text, not markup
        page.get_by_label("worker replicas").fill("2")
        page.locator("#formation button[data-scale=worker]").click()
        page.locator("#processes tr[data-process='worker.2']").wait_for()
        page.locator("#message[data-kind=ok]").wait_for()
        screenshots(page, artifacts, "project-processes")
        page.get_by_label("web replicas").fill("0")  # as `hostctl scale shop web=0`
        page.locator("#formation button[data-scale=web]").click()
        page.locator("#processes tr[data-process='web.1']").wait_for(state="detached")
        page.locator("#message[data-kind=ok]", has_text="web=0").wait_for()
        page.get_by_label("web replicas").fill("-1")
        page.locator("#formation button[data-scale=web]").click()
        page.locator("#message[data-kind=error]", has_text="from 0 to 20").wait_for()
        page.goto("about:blank")  # its event streams end before the daemon stops
    assert len(running_of(daemon, pid, "worker")) == 2
