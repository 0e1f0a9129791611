"""The router's pages are public: anyone who knows a host name reads them. They name the
project's state and nothing of why (build output, commands, repository URLs): that is
its owner's, through the API's `status_reason`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session

from hostd.router.counts import RequestCounter
from hostd.router.pages import no_answer, page_response
from hostd.router.proxy import Router
from hostd.router.table import Route, RouteTable
from hostd.store import db
from hostd.store.models import Project, User
from tests.deploy.conftest import create, make_repo
from tests.support import HostdServer, tls

MARKER = "SECRET-MARKER-123"
REPO_MARKER = "REPO-MARKER-456"
REASON = (f"the build failed: The command '/bin/sh -c echo {MARKER} && exit 1' returned a "
          f"non-zero code: 1 (https://x-access-token:t0k3n@git.example/{REPO_MARKER}.git)")
LEAKS = (MARKER, REPO_MARKER, "git.example", "t0k3n", "build failed", "/bin/sh", "Reason")


def render(tmp_path: Path, status: str,
           host: str = "shop.alice.localhost:8080") -> tuple[int, str]:
    """The page the router gives for a project stored with `status` and REASON."""
    async def resolve(router: Router) -> Route | tuple[int, str, str]:
        return await router.resolve(host)

    engine = db.make_engine(f"sqlite:///{tmp_path / 'hostd.db'}")
    db.migrate(engine)
    with Session(engine) as session:
        user = User(email="a@example.com", name="Alice", handle="alice", password_hash="x")
        session.add(user)
        session.commit()
        session.add(Project(user_id=user.id, name="shop", template="static", status=status,
                            status_reason=REASON, github_url=f"https://git.example/{REPO_MARKER}"))
        session.commit()
    found = asyncio.run(resolve(Router(RouteTable(engine), RequestCounter())))
    engine.dispose()
    assert not isinstance(found, Route)
    return found[0], page_response(*found, keep_alive=False).decode()


@pytest.mark.parametrize(("status", "state"), [
    ("error", "shop failed to start"), ("deploying", "shop is deploying"),
    ("stopped", "shop is stopped"), ("something-new", "shop is not running"),
    ("running", "shop has no web process running"),  # web scaled to 0, or no `web:`
])
def test_a_page_names_the_state_and_nothing_of_the_reason(tmp_path, status, state):
    code, page = render(tmp_path, status)
    assert code == 503 and state in page
    assert not [leak for leak in LEAKS if leak in page], page


def test_the_other_pages_say_only_what_happened(tmp_path):
    code, page = render(tmp_path, "error", host="nothing.nobody.localhost")
    assert code == 404 and "Not found" in page and "nothing" not in page
    for status in (502, 504):
        body = page_response(*no_answer(status, "shop"), keep_alive=False).decode()
        assert f"HTTP/1.1 {status}" in body and "The app did not answer" in body


def page_of(server: HostdServer, project: dict) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{server.router_port}/", timeout=10, verify=tls(),
                     headers={"Host": urlsplit(project["url"]).netloc})


def test_a_failed_build_is_public_only_as_failed_to_start(router_hostd, alice, base_images,
                                                         tmp_path: Path):
    dockerfile = f"FROM hostd/busybox:1\nRUN echo {MARKER} && exit 1\n"
    url = make_repo(tmp_path / f"repo-{REPO_MARKER}", {"Dockerfile": dockerfile})
    project = create(alice, "leaky", url, "static")
    deadline = time.monotonic() + 240
    while True:  # every page on the way (queued, cloning, building) names the state only
        now = alice.get(f"/api/projects/{project['id']}").json()["project"]
        page = page_of(router_hostd, project)
        assert page.status_code == 503, page.text
        assert not [leak for leak in (*LEAKS, "queued", "clon") if leak in page.text], page.text
        if now["status"] != "deploying":
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.2)
    assert now["status"] == "error" and MARKER in now["status_reason"], now
    page = page_of(router_hostd, project)
    assert page.status_code == 503 and "leaky failed to start" in page.text
    assert now["status_reason"] not in page.text
    assert not [leak for leak in LEAKS if leak in page.text], page.text
