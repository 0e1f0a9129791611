"""HOSTD_APPS_DOMAIN and HOSTD_ROUTER_HOST on a real daemon (FakeRuntime): a project's
`url` is under the apps domain, the router (bound to HOSTD_ROUTER_HOST, not HOST: here
127.0.0.1 while HOST names another loopback address nothing binds) routes that name to
it, in the daemon and in worker processes; the API refuses every name under the domain."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hostd.api.origin import TrustedOriginMiddleware
from tests.control.conftest import deployed
from tests.control.test_replica_routes import handle_of
from tests.fakes.daemon import fake_daemon

DOMAIN = "apps.example.test"


@pytest.mark.parametrize("workers", [1, 2])
def test_projects_answer_under_the_apps_domain(tmp_path: Path, repo, workers):
    with fake_daemon(tmp_path / "data", HOSTD_APPS_DOMAIN="APPS.example.test.",
                     HOSTD_ROUTER_HOST="127.0.0.1", HOST="127.0.0.9",
                     HOSTD_ROUTER_WORKERS=workers) as daemon, daemon.logged_in() as client:
        project = deployed(client, repo)
        handle = handle_of(daemon, project["id"])
        port = daemon.services.settings.router_port
        assert project["url"] == f"http://site.{handle}.{DOMAIN}:{port}"

        def through_router(host: str) -> httpx.Response:
            return httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host}, timeout=10)

        # Routed: nothing listens on the fake's ports, so the app "does not answer" (502).
        routed = through_router(f"Site.{handle}.{DOMAIN}.:{port}")
        assert routed.status_code == 502 and "site did not answer" in routed.text
        assert through_router(f"site.{handle}.localhost:{port}").status_code == 502
        for unknown in (f"nosuch.{handle}.{DOMAIN}", DOMAIN, f"x.site.{handle}.{DOMAIN}",
                        f"site.{handle}.other.example.test"):
            assert through_router(unknown).status_code == 404, unknown


def test_the_api_refuses_names_under_the_apps_domain(tmp_path: Path):
    with fake_daemon(tmp_path / "data", HOSTD_APPS_DOMAIN=DOMAIN) as daemon:
        port = daemon.services.settings.port
        for host in (f"x.{DOMAIN}", f"site.alice.{DOMAIN}:{port}", DOMAIN):
            resp = httpx.get(f"{daemon.url}/api/projects", headers={"Host": host}, timeout=10)
            assert resp.status_code == 400 and "not one hostd answers to" in resp.text, host
        assert httpx.get(f"{daemon.url}/api/projects", timeout=10).status_code == 401


def test_an_apps_domain_name_is_never_an_api_host_even_if_allowed():
    # Settings refuse such an HOSTD_ALLOWED_HOSTS entry at start (tests/test_config.py);
    # the middleware refuses the names on its own too.
    guard = TrustedOriginMiddleware(lambda *_: None, port=3000, frontend_url=None,  # type: ignore[arg-type]
                                    allowed_hosts=[f"x.{DOMAIN}", "hostd.example.test"],
                                    apps_domain=DOMAIN)
    assert not guard.host_allowed(f"x.{DOMAIN}") and not guard.host_allowed(f"X.{DOMAIN}:3000")
    assert guard.host_allowed("hostd.example.test") and guard.host_allowed("127.0.0.1:3000")
