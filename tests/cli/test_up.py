"""`hostctl up` against a fake hostd: what it creates and sends, and what it says."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import FakeHostd, serve_fake

PROJECT = {"id": "p1", "userId": "u1", "name": "my-site", "status": "stopped",
           "status_reason": "waiting for its first upload", "url": "http://my-site.a.localhost:1",
           "template": "static", "github_url": "upload:", "created_at": "2024-01-01T00:00:00Z",
           "metrics": {"cpu": 0, "memory": 0, "requests": 0}, "deploying": False}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "My Site"
    root.mkdir()
    (root / "index.html").write_text("<h1>hi</h1>")
    return root


def test_up_creates_the_project_and_uploads_a_gzipd_tar(monkeypatch, cli, site):
    hostd = serve_fake(monkeypatch, FakeHostd([]))
    hostd.answers[("POST", "/api/projects")] = httpx.Response(201, json={"project": PROJECT})
    hostd.answers[("PUT", "/api/projects/p1/source")] = httpx.Response(
        200, json={"project": {**PROJECT, "github_url": "upload:ab"}, "deployment": None,
                   "message": "unchanged"})
    result = cli("up", str(site))
    assert result.exit_code == 0, result.output + result.stderr
    assert "template: static (index.html)" in result.stderr
    assert "unchanged" in result.stdout
    created, sent = hostd.requests[1], hostd.requests[2]
    assert json.loads(created.content) == {"name": "my-site", "template": "static",
                                           "source": "upload"}
    assert sent.headers["content-type"] == "application/gzip"
    assert gzip.decompress(sent.content)[:9] == b"index.htm"
    assert int(sent.headers["content-length"]) == len(sent.content)


def test_up_deploys_to_the_project_it_has_and_waits(monkeypatch, cli, site):
    hostd = serve_fake(monkeypatch, FakeHostd([PROJECT]))
    running = {**PROJECT, "status": "running", "status_reason": None}
    hostd.answers[("PUT", "/api/projects/p1/source")] = httpx.Response(
        202, json={"project": {**PROJECT, "status": "deploying"}, "deployment": {"id": "d"},
                   "message": "Deploying"})
    hostd.answers[("GET", "/api/projects/p1")] = httpx.Response(200, json={"project": running})
    result = cli("up", str(site), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(result.stdout)["project"]["status"] == "running"
    assert [r.method for r in hostd.requests] == ["GET", "PUT", "GET"]  # no create


def test_nothing_to_detect_names_template(monkeypatch, cli, tmp_path):
    serve_fake(monkeypatch, FakeHostd([]))
    (tmp_path / "notes.txt").write_text("x")
    result = cli("up", str(tmp_path), "--name", "x")
    assert result.exit_code != 0
    assert "--template" in result.stderr


def test_a_directory_name_that_makes_no_project_name(monkeypatch, cli, tmp_path):
    serve_fake(monkeypatch, FakeHostd([]))
    odd = tmp_path / "___"
    odd.mkdir()
    (odd / "index.html").write_text("x")
    result = cli("up", str(odd))
    assert result.exit_code != 0 and "--name" in result.stderr
    assert os.listdir(odd) == ["index.html"]  # nothing written into the tree


def test_up_sends_a_new_projects_first_formation(monkeypatch, cli, site):
    hostd = serve_fake(monkeypatch, FakeHostd([]))
    hostd.answers[("POST", "/api/projects")] = httpx.Response(201, json={"project": PROJECT})
    hostd.answers[("PUT", "/api/projects/p1/source")] = httpx.Response(
        200, json={"project": PROJECT, "deployment": None, "message": "unchanged"})
    result = cli("up", str(site), "--scale", "worker=1")
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(hostd.requests[1].content)["formation"] == {"worker": 1}
