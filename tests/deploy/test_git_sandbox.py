"""git in a sandbox, on the real engine through real daemons: the operator's git config
is not used, a URL's token reaches the git server but no answer or log, redirects are not
followed, and a failed clone's reason tells nothing of what answered.

The git server is a loopback smart-HTTP server (`git http-backend` as CGI): the dumb
protocol cannot serve hostd's shallow (`--depth 1`) clones.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from hostd.config import Settings
from hostd.control import git
from tests.deploy.conftest import make_repo, wait_status
from tests.plugins.engine import own_daemon
from tests.support import logged_in

TOKEN = "tok3n-only-the-server-may-see"
BANNER = "ACME-internal-gitlab-10.9.8.7"
FAILING_BUILD = {"Dockerfile": "FROM hostd/busybox:1\nRUN false\n"}  # fast: stops after clone


class GitHTTP(BaseHTTPRequestHandler):
    """Serves bare repositories under `root` (smart HTTP); optional Basic auth; paths
    under /moved/ answer 301 to the same repository elsewhere, with a telling body."""

    server: GitServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/moved/"):
            return self._answer(301, {"Location": self.path.removeprefix("/moved"),
                                      "Server": BANNER}, BANNER.encode())
        if self.server.password is not None and self.headers.get("Authorization") != (
                "Basic " + base64.b64encode(self.server.password.encode()).decode()):
            return self._answer(401, {"WWW-Authenticate": 'Basic realm="git"'}, b"no")
        self._answer(*self._backend())

    def _backend(self) -> tuple[int, dict[str, str], bytes]:
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(self.server.root),
               "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
               "REQUEST_METHOD": self.command, "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "REMOTE_ADDR": "127.0.0.1",
               "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
               "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", "")}
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                             timeout=30, check=False).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers[name] = value.strip()
        return status, headers, payload

    def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitServer(ThreadingHTTPServer):
    def __init__(self, root: Path, password: str | None) -> None:
        super().__init__(("127.0.0.1", 0), GitHTTP)
        self.root, self.password = root, password
        self.requests: list[tuple[str, str | None]] = []

    @property
    def port(self) -> int:
        return self.server_address[1]


@contextlib.contextmanager
def git_server(tmp_path: Path, files: dict[str, str],
               password: str | None = None) -> Iterator[tuple[GitServer, str]]:
    """A loopback git server with one bare repository, `repo.git`; yields it and the
    commit it serves."""
    work = Path(make_repo(tmp_path / "work", files).removeprefix("file://"))
    root = tmp_path / "served"
    root.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "repo.git")], check=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    server = GitServer(root, password)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield server, commit
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def deployed_commit(api: httpx.Client, project_id: str) -> str | None:
    runs = api.get(f"/api/projects/{project_id}/deployments").json()["deployments"]
    return runs[0]["commit"]


def new_project(api: httpx.Client, name: str, url: str) -> httpx.Response:
    return api.post("/api/projects", json={"name": name, "github_url": url, "template": "static"})


def build_log(api: httpx.Client, project_id: str) -> str:
    resp = api.get(f"/api/projects/{project_id}/logs", params={"source": "build", "tail": 500})
    return "\n".join(resp.json()["lines"])


def test_clone_pinned_to_the_checked_address(tmp_path):
    """The pin holds: a name that resolves nowhere is cloned from the address checked."""
    with git_server(tmp_path, {"a.txt": "pinned\n"}) as (server, commit):
        settings = Settings(_env_file=None, data_dir=tmp_path / "data", allow_private_repos=True)
        url = f"http://pinned.invalid:{server.port}/repo.git"
        cmd = git.clone_command(url, tmp_path / "dest", settings, tmp_path,
                                pinned=ipaddress.ip_address("127.0.0.1"))
        done = subprocess.run(cmd.argv, env=cmd.env, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "dest" / "a.txt").read_text() == "pinned\n"


@pytest.mark.docker
def test_the_operators_git_config_is_not_used(engine, base_images, tmp_path):
    public = make_repo(tmp_path / "public", {**FAILING_BUILD, "who": "public\n"})
    private = make_repo(tmp_path / "private", {**FAILING_BUILD, "who": "private\n"})
    private_commit = subprocess.run(["git", "-C", str(tmp_path / "private"), "rev-parse", "HEAD"],
                                    capture_output=True, text=True, check=True).stdout.strip()
    home, marker = tmp_path / "operator-home", tmp_path / "helper-ran"
    home.mkdir()
    (home / ".gitconfig").write_text(
        f'[url "{private}"]\n\tinsteadOf = {public}\n'
        f'[credential]\n\thelper = "!touch {marker}"\n')
    with own_daemon(engine, tmp_path / "data", HOME=str(home)) as server, \
            logged_in(server) as api:
        resp = new_project(api, "sandboxed", public)
        assert resp.status_code == 201, resp.text
        project = wait_status(api, resp.json()["project"]["id"], {"error", "running"})
        commit = deployed_commit(api, project["id"])
    public_commit = subprocess.run(["git", "-C", str(tmp_path / "public"), "rev-parse", "HEAD"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    assert commit == public_commit != private_commit
    assert not marker.exists()


@pytest.mark.docker
def test_a_urls_token_reaches_the_server_and_nothing_else(engine, base_images, tmp_path):
    with git_server(tmp_path, FAILING_BUILD, password=f"{TOKEN}:") as (gitd, commit), \
            own_daemon(engine, tmp_path / "data", HOSTD_ALLOW_PRIVATE_REPOS="true") as server, \
            logged_in(server) as api:
        url = f"http://{TOKEN}@127.0.0.1:{gitd.port}/repo.git"
        resp = new_project(api, "tokened", url)
        assert resp.status_code == 201, resp.text
        project = wait_status(api, resp.json()["project"]["id"], {"error", "running"})
        assert deployed_commit(api, project["id"]) == commit, project["status_reason"]
        assert any(header for _, header in gitd.requests)  # the header reached the server
        answers = [resp.text, api.get(f"/api/projects/{project['id']}").text,
                   api.get("/api/projects").text,
                   api.get(f"/api/projects/{project['id']}/deployments").text,
                   build_log(api, project["id"])]
        assert f"http://***@127.0.0.1:{gitd.port}/repo.git" in answers[1]
        for text in [*answers, server.logs()]:
            assert TOKEN not in text


@pytest.mark.docker
def test_a_redirect_is_not_followed_and_its_answer_not_shown(engine, base_images, tmp_path):
    with git_server(tmp_path, FAILING_BUILD) as (gitd, _), \
            own_daemon(engine, tmp_path / "data", HOSTD_ALLOW_PRIVATE_REPOS="true") as server, \
            logged_in(server) as api:
        resp = new_project(api, "moved", f"http://127.0.0.1:{gitd.port}/moved/repo.git")
        assert resp.status_code == 201, resp.text
        project = wait_status(api, resp.json()["project"]["id"], {"error", "running"})
        assert project["status"] == "error"
        reason = project["status_reason"]
        assert reason.startswith("could not reach the repository")
        assert "public" in reason and "token" in reason
        assert all(path.startswith("/moved/") for path, _ in gitd.requests)  # not followed
        for leak in (BANNER, "301", "Moved", "127.0.0.1", str(gitd.port)):
            assert leak not in reason
        log = build_log(api, project["id"])  # it names the URL cloned, and nothing more
        assert "could not reach the repository" in log
        for leak in (BANNER, "301", "Moved"):
            assert leak not in log
