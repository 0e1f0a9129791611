"""A repository's Dockerfile cannot build on, or copy from, another tenant's image.

User A deploys an image holding a secret; user B names it by id prefix, by its
hostd-app tag, through a global ARG, or through an allowed name pointing at it: each
deploy ends in `error` naming the Dockerfile line, before anything is built.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.deploy.conftest import answers, create, published_port, wait_status
from tests.support import HostdServer, logged_in

pytestmark = pytest.mark.docker

SERVE = 'CMD ["sh", "-c", "exec httpd -f -p $PORT -h /www"]\n'


@pytest.fixture
def other_user(deploy_hostd: HostdServer) -> Iterator[httpx.Client]:
    """A second tenant on the same daemon."""
    with logged_in(deploy_hostd) as client:
        yield client


def deploy_secret(api: httpx.Client, repo, engine: docker.DockerClient) -> tuple[str, str]:
    """User A's running project; returns (its image id without sha256:, the secret)."""
    secret = f"secret-{uuid.uuid4().hex}"
    url = repo({"Dockerfile": f"FROM hostd/busybox:1\nRUN echo {secret} > /www/index.html\n"
                              + SERVE})
    project = wait_status(api, create(api, "vault", url, "static")["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    assert secret in answers(published_port(engine, project["id"])).text
    (image,) = engine.images.list(filters={"label": f"hostd.project={project['id']}"})
    return image.id.removeprefix("sha256:"), secret


def refused(api: httpx.Client, repo, name: str, dockerfile: str, line: int) -> str:
    project = create(api, name, repo({"Dockerfile": dockerfile}), "static")
    project = wait_status(api, project["id"], {"running", "error"})
    assert project["status"] == "error", f"{name} was not refused"
    reason = project["status_reason"]
    assert reason.startswith(f"Dockerfile line {line}: "), reason
    return reason


def test_a_tenant_cannot_build_on_another_tenants_image(api, other_user, repo, engine):
    image_id, _ = deploy_secret(api, repo, engine)
    (tag,) = engine.images.get(image_id).tags
    prefix = image_id[:12]
    reason = refused(other_user, repo, "by-id", f"FROM {prefix}\nRUN cat /www/index.html\n", 1)
    assert f"FROM {prefix} is refused: image ids are not allowed" in reason
    reason = refused(other_user, repo, "copy-from",
                     f"FROM hostd/busybox:1\nCOPY --from={prefix} /www /x\n" + SERVE, 2)
    assert "image ids are not allowed" in reason
    reason = refused(other_user, repo, "by-tag", f"FROM {tag}\n" + SERVE, 1)
    assert "hostd-app" in reason
    reason = refused(other_user, repo, "smuggled",
                     f"ARG BASE={prefix}\nFROM $BASE\n" + SERVE, 2)
    assert f"(= {prefix})" in reason
    for project in other_user.get("/api/projects").json()["projects"]:  # nothing was built
        assert engine.images.list(filters={"label": f"hostd.project={project['id']}"}) == []


def test_an_allowed_name_that_lands_on_a_tenants_image_is_refused(api, other_user, repo,
                                                                  engine):
    image_id, _ = deploy_secret(api, repo, engine)
    # An operator's mistake: a name the default glob allows, pointing at A's image.
    alias = f"hostd-alias-{uuid.uuid4().hex[:8]}"
    engine.images.get(image_id).tag(alias, "1")
    try:
        reason = refused(other_user, repo, "aliased", f"FROM {alias}:1\n" + SERVE, 1)
    finally:
        engine.images.remove(f"{alias}:1")
    assert "resolves to an image hostd built for a project" in reason


def test_multi_stage_on_hostd_bases_still_deploys(other_user, repo, engine):
    url = repo({"Dockerfile": "FROM hostd/busybox:1\nRUN echo built-in-stage-0 > /out\n"
                              "FROM hostd/busybox:1\nCOPY --from=0 /out /www/index.html\n"
                              + SERVE})
    project = wait_status(other_user, create(other_user, "staged", url, "static")["id"],
                          {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    assert "built-in-stage-0" in answers(published_port(engine, project["id"])).text
