"""The dashboard's pages and files as served (hostd.web): on its own name (a loopback name
redirects there), security headers and the Content-Security-Policy on every page, every
asset local (no CDN), only the package's files reachable, and none of it in the OpenAPI
document. Plain HTTP: no browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_auth_api import assert_error
from tests.web.dashboard import dashboard_host

WEB = Path(__file__).resolve().parents[2] / "hostd" / "web"
PAGES = ["/", "/signin", "/projects/abc123", "/docs", "/redoc"]
ASSET_REF = re.compile(r'(?:src|href)="([^"]+)"')


def csp(resp) -> dict[str, str]:
    policy = resp.headers["content-security-policy"]
    return {part.split()[0]: " ".join(part.split()[1:])
            for part in (p.strip() for p in policy.split(";")) if part}


DASHBOARD_PAGES = ["/", "/signin", "/projects/abc123"]


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]", "127.0.0.2"])
@pytest.mark.parametrize("path", DASHBOARD_PAGES)
def test_a_dashboard_page_on_a_loopback_name_redirects_to_hostd_localhost(
        client, hostd, name, path):
    resp = client.get(f"{path}?next=%2Fx", headers={"Host": f"{name}:{hostd.port}"})
    assert resp.status_code == 307
    assert resp.headers["location"] == f"http://hostd.localhost:{hostd.port}{path}?next=%2Fx"
    assert resp.headers["cache-control"] == "no-store"


def test_the_redirect_keeps_the_path_as_sent_and_only_it(client, hostd):
    resp = client.get("/projects/a%0d%0aSet-Cookie:%20x=1", headers={"Host": "localhost"})
    assert resp.status_code == 307
    assert resp.headers["location"] == "http://hostd.localhost/projects/a%0d%0aSet-Cookie:%20x=1"
    assert "set-cookie" not in resp.headers


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/static/js/api.js", "/openapi.json"])
def test_the_docs_and_files_answer_on_any_name_of_hostd(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_strict_policy_and_the_security_headers(client, hostd, path):
    resp = client.get(path, headers=dashboard_host(hostd))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["x-frame-options"] == "DENY"
    policy = csp(resp)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval, no CDN
    assert policy["connect-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    if path not in ("/docs", "/redoc"):
        assert policy["style-src"] == "'self'"


@pytest.mark.parametrize("path", PAGES)
def test_pages_hold_no_inline_script_and_load_only_local_files(client, hostd, path):
    html = client.get(path, headers=dashboard_host(hostd)).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "an inline event handler"
    assert "<style" not in html and "style=" not in html
    for ref in ASSET_REF.findall(html):
        if ref.startswith("#") or not ref.startswith("/static/"):
            assert ref in ("/", "/docs", "#main"), ref  # links, not assets
            continue
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.headers["x-content-type-options"] == "nosniff"


def test_the_files_come_with_their_types_and_a_validator(client):
    js = client.get("/static/js/api.js")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert client.get("/static/css/app.css").headers["content-type"].startswith("text/css")
    again = client.get("/static/js/api.js", headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    licence = client.get("/static/vendor/swagger-ui/LICENSE")
    assert licence.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/pages.py",
                                  "/static/js", "/static/js/", "/static/nope.js",
                                  "/static/..%2fassets.py", "/static/vendor/../../assets.py"])
def test_nothing_outside_the_package_files_is_served(client, path):
    assert_error(client.get(path), 404, "NotFound")


def test_every_module_and_page_refers_only_to_files_that_exist(client):
    for script in (WEB / "static" / "js").glob("*.js"):
        for name in re.findall(r'from "\./([^"]+)"', script.read_text()):
            assert (WEB / "static" / "js" / name).is_file(), f"{script.name} imports {name}"
    for page in (WEB / "pages").glob("*.html"):
        for ref in ASSET_REF.findall(page.read_text()):
            if ref.startswith("/static/"):
                assert (WEB / "static" / ref.removeprefix("/static/")).is_file(), ref


def test_no_script_builds_html_from_strings():
    for script in (WEB / "static" / "js").glob("*.js"):
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{script.name} uses {sink}"


def test_the_web_routes_are_not_in_the_api_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith(("/api/", "/healthz"))], list(paths)
    assert "/api/auth/session" in paths


def test_the_package_ships_every_web_file():
    """pyproject's package-data globs cover every file the pages need (a wheel has them)."""
    text = (WEB.parents[1] / "pyproject.toml").read_text()
    assert '"hostd.web" = ["pages/*.html", "static/**/*"]' in text
    assert all(p.suffix == ".html" for p in (WEB / "pages").iterdir())
