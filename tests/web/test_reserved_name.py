"""The dashboard's name is nobody else's: the router routes neither `hostd.localhost` nor
any `*.hostd.localhost`, and no user gets the handle `hostd` (which would put their apps
at `<project>.hostd.localhost`, the dashboard's own site)."""

from __future__ import annotations

import uuid

import httpx

from hostd.router.table import parse_host
from hostd.store.validation import handle_candidate
from tests.support import register, tls


def test_the_router_parses_no_route_from_the_dashboards_names():
    assert parse_host("shop.alice.localhost:8080") == ("shop", "alice")
    for host in ("hostd.localhost", "hostd.localhost:8080", "shop.hostd.localhost",
                 "shop.hostd.localhost:8080", "SHOP.HOSTD.LOCALHOST.", "a.b.hostd.localhost"):
        assert parse_host(host) is None, host


def test_the_handle_hostd_is_never_given(client):
    assert handle_candidate("hostd", 1) == "hostd-2"
    assert handle_candidate("hostd-x", 1) == "hostd-x"
    _, user = register(client, email=f"hostd@{uuid.uuid4().hex[:10]}.example.com")
    assert user["handle"] != "hostd" and user["handle"].startswith("hostd-")


def test_the_router_answers_the_dashboards_name_with_no_app(hostd):
    with httpx.Client(verify=tls(), timeout=10) as client:
        reply = client.get(f"http://127.0.0.1:{hostd.router_port}/",
                           headers={"Host": f"hostd.localhost:{hostd.router_port}"})
    assert reply.status_code == 404
