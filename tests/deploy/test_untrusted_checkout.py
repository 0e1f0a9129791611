"""A hostile checkout on the real engine: links out of it are never followed, nothing is
written into it, and its size is capped (SECURITY.md, "Untrusted repositories")."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.deploy.conftest import create, make_repo, wait_status
from tests.plugins.engine import own_daemon
from tests.support import logged_in

pytestmark = pytest.mark.docker


def hostile_repo(root: Path, files: dict[str, str], links: dict[str, str]) -> str:
    return make_repo(root, files, links)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A host file with a secret no image may ever hold."""
    path = tmp_path / "host-secret.txt"
    path.write_text(f"host-secret-{uuid.uuid4().hex}\n")
    return path


def image_text(engine, project_id: str, directory: str) -> str:
    """Every name under `directory` in the project's image, every file's text, and what
    its links lead to (read inside the container)."""
    (image,) = engine.images.list(filters={"label": f"hostd.project={project_id}"})
    script = (f"find {directory}; find {directory} -type f -exec cat {{}} + 2>/dev/null; "
              f"find {directory} -type l -exec cat {{}} + 2>/dev/null; true")
    out = engine.containers.run(image.id, ["sh", "-c", script], remove=True, user="0",
                                entrypoint=[], labels={"hostd.test": "1"})
    return out.decode(errors="replace")


def test_dockerignore_link_to_a_host_file_is_refused(api, engine, tmp_path, marker):
    url = hostile_repo(tmp_path / "r", {"index.html": "<h1>hi</h1>\n"},
                       {".dockerignore": str(marker)})
    project = wait_status(api, create(api, "ignore-link", url, "static")["id"],
                          {"running", "error"})
    assert project["status"] == "error"
    assert ".dockerignore" in project["status_reason"]
    assert "symbolic link" in project["status_reason"]
    log = api.get(f"/api/projects/{project['id']}/logs", params={"source": "build"}).json()
    assert marker.read_text().strip() not in "\n".join(log["lines"])
    assert engine.images.list(filters={"label": f"hostd.project={project['id']}"}) == []


def test_links_out_of_the_checkout_never_reach_the_image(api, engine, tmp_path, marker):
    url = hostile_repo(tmp_path / "r", {"index.html": "<h1>hi</h1>\n"},
                       {"leak": str(marker), "etc-link": "/etc", "up": "../../.."})
    project = wait_status(api, create(api, "leak-link", url, "static")["id"],
                          {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    text = image_text(engine, project["id"], "/www")
    assert "<h1>hi</h1>" in text
    assert marker.read_text().strip() not in text


def test_ca_bundle_is_never_written_through_a_link(api, engine, tmp_path):
    victim = tmp_path / "victim.db"
    victim.write_text("the operator's data\n")
    url = hostile_repo(tmp_path / "r", {"index.html": "<h1>hi</h1>\n"},
                       {"hostd-ca.pem": str(victim)})
    project = wait_status(api, create(api, "ca-link", url, "static")["id"],
                          {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    assert victim.read_text() == "the operator's data\n"


@pytest.mark.parametrize(("template", "name"), [
    ("static", "Dockerfile"), ("flask", ".flaskenv"), ("flask", "requirements.txt"),
])
def test_a_file_hostd_reads_may_not_be_a_link(api, tmp_path, marker, template, name):
    url = hostile_repo(tmp_path / "r", {"app.py": "", "index.html": ""}, {name: str(marker)})
    project = wait_status(api, create(api, f"link-{template}", url, template)["id"],
                          {"running", "error"})
    assert project["status"] == "error"
    assert name in project["status_reason"] and "symbolic link" in project["status_reason"]


def test_dockerignore_is_applied_as_the_engine_would(api, engine, tmp_path):
    files = {"index.html": "<h1>site</h1>\n", "secret.txt": "do-not-ship\n",
             "logs/a.log": "a-log\n", "logs/keep.log": "kept-log\n",
             ".dockerignore": "# comment\nsecret.txt\nlogs/*.log\n!logs/keep.log\n"}
    url = hostile_repo(tmp_path / "r", files, {})
    project = wait_status(api, create(api, "ignored", url, "static")["id"],
                          {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    text = image_text(engine, project["id"], "/www")
    assert "<h1>site</h1>" in text and "kept-log" in text
    assert "do-not-ship" not in text and "a-log" not in text
    # hostd's own context files are gone from the image.
    assert "hostd.Dockerfile" not in text and ".dockerignore" not in text


@pytest.mark.parametrize(("setting", "files", "words"), [
    ({"HOSTD_MAX_SOURCE_MB": "1"}, {"big.bin": "x" * (2 * 1024 * 1024)}, "HOSTD_MAX_SOURCE_MB"),
    ({"HOSTD_MAX_SOURCE_FILES": "10"}, {f"f{i}.txt": "" for i in range(20)},
     "HOSTD_MAX_SOURCE_FILES"),
])
def test_source_caps(engine, base_images, tmp_path, setting, files, words):
    url = hostile_repo(tmp_path / "r", {"index.html": "", **files}, {})
    with own_daemon(engine, tmp_path / "data", **setting) as server, logged_in(server) as client:
        project = wait_status(client, create(client, "too-big", url, "static")["id"],
                              {"running", "error"})
    assert project["status"] == "error"
    assert words in project["status_reason"]
