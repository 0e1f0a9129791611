"""Upstream starter apps deploy unchanged (tests/corpus.py fetches them, once a session):
create-vite's template-react (react), express-generator 4's --no-view app (nodejs) and
Flask's tutorial (flask, FLASK_APP=flaskr) each serve their index through the router. The
tutorial's database is made with `hostctl run NAME -- flask init-db`, and a user who
registered through the app's own form logs in after a redeploy and after a rollback: its
SQLite file is in the instance folder, which is the project's /data.

The three deploys start together when the module does (one user each, so the fair queue
runs two at once); each test waits for its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from tests import corpus
from tests.deploy.conftest import wait_status
from tests.deploy.test_zero_downtime import deployed
from tests.support import HostdServer, logged_in, tls

TUTORIAL_USER = {"username": "ada", "password": "correct horse battery"}


@dataclass
class Deploy:
    api: httpx.Client
    project: dict
    version: str  # the upstream package's


@pytest.fixture(scope="module")
def corpus_repos(engine: docker.DockerClient, base_images: object,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """name -> (upstream version, file:// URL), fetched and made once."""
    cache = tmp_path_factory.mktemp("corpus")
    made = {"vite": corpus.vite_react(cache), "express": corpus.express_app(cache, engine),
            "tutorial": corpus.flask_tutorial(cache)}
    return {name: (version, corpus.git_repo(tree)) for name, (version, tree) in made.items()}


@pytest.fixture(scope="module")
def deploys(deploy_hostd: HostdServer,
            corpus_repos: dict[str, tuple[str, str]]) -> Iterator[dict[str, Deploy]]:
    bodies = {
        "vite": {"template": "react"},
        "express": {"template": "nodejs"},
        # Its index reads the database, which `flask init-db` makes after the deploy: the
        # health check asks a page that does not.
        "tutorial": {"template": "flask", "env": {"FLASK_APP": "flaskr"},
                     "health_path": "/auth/login"},
    }
    with logged_in(deploy_hostd) as a, logged_in(deploy_hostd) as b, \
            logged_in(deploy_hostd) as c:
        started = {}
        for api, (name, body) in zip((a, b, c), bodies.items(), strict=True):
            version, url = corpus_repos[name]
            reply = api.post("/api/projects", json={"name": f"corpus-{name}",
                                                    "github_url": url, **body})
            assert reply.status_code == 201, reply.text
            started[name] = Deploy(api, reply.json()["project"], version)
        yield started


def running(deploy: Deploy) -> dict:
    project = wait_status(deploy.api, deploy.project["id"], {"running", "error"})
    assert project["status"] == "running", (deploy.version, project["status_reason"])
    return project


def router(server: HostdServer, project: dict) -> httpx.Client:
    host = project["url"].removeprefix("http://").split(":")[0]
    return httpx.Client(base_url=f"http://127.0.0.1:{server.router_port}", timeout=10,
                        verify=tls(), headers={"Host": host})


def test_create_vites_react_template(deploy_hostd: HostdServer,
                                     deploys: dict[str, Deploy]) -> None:
    project = running(deploys["vite"])
    with router(deploy_hostd, project) as site:
        index = site.get("/")
        assert index.status_code == 200 and '<div id="root"></div>' in index.text, index.text
        script = index.text.split('src="', 1)[1].split('"', 1)[0]
        assert script.startswith("/assets/index-") and script.endswith(".js"), index.text
        assert site.get(script).status_code == 200
        assert site.get("/some/client/route").text == index.text  # the SPA's routes


def test_express_generators_app(deploy_hostd: HostdServer,
                                deploys: dict[str, Deploy]) -> None:
    project = running(deploys["express"])
    with router(deploy_hostd, project) as site:
        index = site.get("/")
        assert index.status_code == 200 and "Welcome to Express" in index.text, index.text
        assert site.get("/users").text == "respond with a resource"


def hostctl_run(server: HostdServer, api: httpx.Client, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")}
    env.update(HOSTCTL_API_URL=server.url,
               HOSTCTL_TOKEN=api.headers["Authorization"].removeprefix("Bearer "),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return subprocess.run([sys.executable, "-c", "from hostctl.cli import main; main()",
                           "run", *argv], env=env, capture_output=True, text=True, timeout=120)


def logs_in(server: HostdServer, project: dict) -> bool:
    """The tutorial's own login form: a session cookie, then the index says who it is."""
    with router(server, project) as site:
        reply = site.post("/auth/login", data=TUTORIAL_USER)
        if reply.status_code != 302 or reply.headers["location"] != "/":
            return False
        site.cookies.set("session", reply.cookies["session"])
        index = site.get("/")
        return index.status_code == 200 and "Log Out" in index.text \
            and TUTORIAL_USER["username"] in index.text


def test_flask_tutorial_keeps_its_users(deploy_hostd: HostdServer,
                                        deploys: dict[str, Deploy], tmp_path: Path) -> None:
    deploy = deploys["tutorial"]
    project = running(deploy)
    pid = project["id"]
    done = hostctl_run(deploy_hostd, deploy.api, project["name"], "--", "flask", "init-db")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "Initialized the database." in done.stdout
    done = hostctl_run(deploy_hostd, deploy.api, project["name"], "--", "sh", "-c",
                       "id -u && touch /app/new && readlink /app/instance")
    assert done.stdout.split() == ["65534", "/data/instance"], (done.stdout, done.stderr)
    with router(deploy_hostd, project) as site:
        assert site.get("/").status_code == 200
        registered = site.post("/auth/register", data=TUTORIAL_USER)
        assert registered.status_code == 302, registered.text
        assert registered.headers["location"] == "/auth/login"
    assert logs_in(deploy_hostd, project)

    assert deploy.api.post(f"/api/projects/{pid}/deploy").status_code == 202
    redeployed = deployed(deploy.api, pid)
    assert redeployed["status"] == "running" and redeployed["release"] == 2, redeployed
    assert logs_in(deploy_hostd, project), "a redeploy lost the tutorial's database"

    rolled = deploy.api.post(f"/api/projects/{pid}/rollback")
    assert rolled.status_code == 200, rolled.text
    assert deploy.api.get(f"/api/projects/{pid}").json()["project"]["release"] == 3
    assert logs_in(deploy_hostd, project), "a rollback lost the tutorial's database"
