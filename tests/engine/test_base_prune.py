"""`hostd images prune` on the real engine: old base tags go, with their layers, unless
a kept release's image, another install's project image or a container is built on them;
current bases stay. The bases here are the test's own (a repository namespace of this
session), so nothing of the machine's real bases is touched. Engine-wide all the same:
`make test` runs it alone, since another test's container on a base of the session's
namespace keeps that base."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest
from sqlmodel import Session

from hostd.admin.base_prune import kept_release_images
from hostd.config import Settings
from hostd.engine.base_prune import prune_base_images
from hostd.engine.containers import image_exists, inspect_image
from hostd.engine.images import _keep_replaced
from hostd.naming import PROJECT_LABEL
from hostd.source.bases import BASE_LABEL
from hostd.store import db, releases
from hostd.store.models import Project, User
from tests.plugins.engine import SESSION

pytestmark = pytest.mark.engine_wide


def build(client: docker.DockerClient, tag: str, base: str, labels: dict[str, str]) -> str:
    """An image of one unique layer on ``base``; its id."""
    text = f"FROM {base}\nRUN echo {uuid.uuid4().hex} > /layer-{uuid.uuid4().hex[:8]}\n"
    image, _ = client.images.build(fileobj=io.BytesIO(text.encode()), tag=tag, rm=True,
                                   labels=labels)
    return str(image.id)


def test_prune_removes_only_old_bases_nothing_is_built_on(
        docker_client: docker.DockerClient, base_images: object,
        labels: dict[str, str]) -> None:
    ns = f"hostd-test-{SESSION[:8]}"
    base = {**labels, BASE_LABEL: "1"}
    ids = {
        "debian:old": build(docker_client, f"{ns}/debian:old", "hostd/busybox:1", base),
        "python:new": build(docker_client, f"{ns}/python:new", "hostd/busybox:1", base),
        "python:kept": build(docker_client, f"{ns}/python:kept", "hostd/busybox:1", base),
        "python:held": build(docker_client, f"{ns}/python:held", "hostd/busybox:1", base),
        "node:ran": build(docker_client, f"{ns}/node:ran", "hostd/busybox:1", base),
    }
    ids["python:old"] = build(docker_client, f"{ns}/python:old", f"{ns}/debian:old", base)
    # A kept release's image (this database's), another install's project image, and a
    # container (never started) on three of the old bases.
    build(docker_client, f"{ns}-app/release:1", f"{ns}/python:kept", labels)
    build(docker_client, f"{ns}-app/other:1", f"{ns}/python:held",
          {**labels, PROJECT_LABEL: "p-of-another-install"})
    docker_client.containers.create(f"{ns}/node:ran", ["true"], labels=labels)
    repositories = [f"{ns}/debian", f"{ns}/python", f"{ns}/node"]
    in_use = [f"{ns}-app/release:1", "hostd-test/no-such-image:0"]

    lines: list[str] = []
    dry = prune_base_images(docker_client, in_use, lines.append, dry_run=True,
                            current={f"{ns}/python:new"}, repositories=repositories)
    assert dry.removed == [f"{ns}/debian:old", f"{ns}/python:old"], lines
    assert all(image_exists(docker_client, image_id) for image_id in ids.values())

    done = prune_base_images(docker_client, in_use, lines.append,
                             current={f"{ns}/python:new"}, repositories=repositories)
    assert done.removed == dry.removed and not done.failed, lines
    assert set(done.kept) == {f"{ns}/python:kept", f"{ns}/python:held", f"{ns}/node:ran"}
    assert "release image" in done.kept[f"{ns}/python:kept"]
    assert "project image" in done.kept[f"{ns}/python:held"]
    assert "container" in done.kept[f"{ns}/node:ran"]
    # Their layers went with the tags (the engine removes the untagged parents too).
    assert not image_exists(docker_client, ids["python:old"])
    assert not image_exists(docker_client, ids["debian:old"])
    for kept in ("python:new", "python:kept", "python:held", "node:ran"):
        assert (inspect_image(docker_client, f"{ns}/{kept}") or {}).get("Id") == ids[kept]

    again = prune_base_images(docker_client, in_use, lines.append,
                              current={f"{ns}/python:new"}, repositories=repositories)
    assert again.removed == [] and set(again.kept) == set(done.kept)


def test_the_kept_release_images_come_from_every_projects_newest(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)  # type: ignore[call-arg]
    assert kept_release_images(settings) == set()  # no database yet: nothing kept
    engine = db.make_engine(settings.database_uri)
    db.migrate(engine)
    with Session(engine) as session:
        user = User(email="a@example.com", name="a", handle="a", password_hash="x")
        session.add(user)
        session.commit()
        for name in ("one", "two"):
            project = Project(id=f"p-{name}", user_id=user.id, name=name, template="static",
                              github_url=f"https://example.com/{name}.git")
            session.add(project)
            for version in range(1, 8):
                releases.record(session, project, image=f"hostd-app/{name}:{version}",
                                env={}, commit=None, cause="deploy", user_id=user.id,
                                processes={})
                session.commit()
    engine.dispose()
    kept = settings.releases_kept
    assert kept_release_images(settings) == {
        f"hostd-app/{name}:{version}" for name in ("one", "two")
        for version in range(8 - kept, 8)}


def test_a_replaced_base_keeps_a_tag_for_prune(docker_client: docker.DockerClient,
                                               base_images: object,
                                               labels: dict[str, str]) -> None:
    tag = f"hostd-test-{SESSION[:8]}/node:24"
    old_id = build(docker_client, tag, "hostd/busybox:1", labels)
    lines: list[str] = []
    _keep_replaced(docker_client, lines.append, tag, old_id, "24.1.0")
    assert lines == []  # the tag still names the old image: nothing was replaced
    build(docker_client, tag, "hostd/busybox:1", labels)  # a rebuild moves the tag
    _keep_replaced(docker_client, lines.append, tag, old_id, "24.1.0")
    kept = f"hostd-test-{SESSION[:8]}/node:24.1.0-{old_id.removeprefix('sha256:')[:12]}"
    assert (inspect_image(docker_client, kept) or {}).get("Id") == old_id, lines


def test_hostd_images_prune_dry_run_removes_nothing(docker_client: docker.DockerClient,
                                                    tmp_path: Path) -> None:
    env = {**os.environ, "HOSTD_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "hostd", "images", "prune", "--dry-run"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "0 images of kept releases (HOSTD_RELEASES_KEPT=5)", lines
    assert lines[-1].startswith("would remove ") and " in use" in lines[-1], lines
    assert all(line.endswith(("would be removed", "is built on it"))
               for line in lines[1:-1] if line != "no old base images"), lines
    named = [line.split(": ", 1)[0] for line in lines if line.endswith("would be removed")]
    assert all(image_exists(docker_client, tag) for tag in named), named
