"""State survives the daemon: a clean restart, a kill -9, and an explicit JWT_SECRET."""

from __future__ import annotations

import stat

from tests.support import auth, client_for, register, stable, unique_email
from tests.test_auth_api import assert_error

REPO = "https://github.com/octo/hello.git"


def test_restart_keeps_users_projects_tokens_and_revocations(fresh_hostd):
    secret_file = fresh_hostd.data_dir / "jwt_secret"
    email = unique_email("persist")
    with client_for(fresh_hostd) as c:
        token, user = register(c, email=email)
        revoked = c.post("/api/auth/login",
                         json={"email": email, "password": "s3cret-pass"}).json()["token"]
        assert c.post("/api/auth/logout", headers=auth(revoked)).status_code == 200
        project = c.post("/api/projects", headers=auth(token), json={
            "name": "keep-me", "github_url": REPO, "template": "react"}).json()["project"]
    secret = secret_file.read_text()

    fresh_hostd.restart()

    assert secret_file.read_text() == secret
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    with client_for(fresh_hostd) as c:
        assert c.get("/api/auth/me", headers=auth(token)).json() == {"user": user}
        assert_error(c.get("/api/auth/me", headers=auth(revoked)), 401, "Unauthorized")
        listed = c.get("/api/projects", headers=auth(token)).json()["projects"]
        assert [stable(p) for p in listed] == [stable(project)]
        login = c.post("/api/auth/login", json={"email": email, "password": "s3cret-pass"})
        assert login.status_code == 200
        resp = c.post("/api/auth/register",
                      json={"email": email, "password": "another", "name": "again"})
        assert_error(resp, 409, "ConflictError")


def test_kill_9_loses_nothing_that_was_answered(fresh_hostd):
    with client_for(fresh_hostd) as c:
        token, _ = register(c)
        names = [f"p{i}" for i in range(5)]
        for name in names:
            resp = c.post("/api/projects", headers=auth(token),
                          json={"name": name, "github_url": REPO, "template": "static"})
            assert resp.status_code == 201
    fresh_hostd.kill9()
    fresh_hostd.start()
    with client_for(fresh_hostd) as c:
        listed = c.get("/api/projects", headers=auth(token)).json()["projects"]
        assert [p["name"] for p in listed] == names


def test_explicit_jwt_secret_survives_restart_and_changing_it_logs_everyone_out(make_hostd):
    server = make_hostd(JWT_SECRET="first-secret-0123456789abcdef")
    assert not (server.data_dir / "jwt_secret").exists()
    with client_for(server) as c:
        token, _ = register(c)
    server.restart()
    with client_for(server) as c:
        assert c.get("/api/auth/me", headers=auth(token)).status_code == 200
    server.stop()
    server.env_overrides["JWT_SECRET"] = "second-secret-0123456789abcdef"
    server.start()
    with client_for(server) as c:
        assert_error(c.get("/api/auth/me", headers=auth(token)), 401, "Unauthorized")
