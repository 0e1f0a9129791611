"""Build stages a multi-stage build leaves untagged: kept for one deploy, then removed."""

from __future__ import annotations

import subprocess
import uuid

from tests.deploy.conftest import answers, create, make_repo, published_port, wait_status

DOCKERFILE = """\
FROM hostd/busybox:1 AS build
LABEL hostd.test-stage={marker}
COPY stamp.txt /out/index.html
FROM hostd/busybox:1
COPY --from=build /out/ /www/
USER 65534:65534
EXPOSE 8000
CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]
"""


def stage_images(engine, marker: str) -> set[str]:
    return {image.id for image in engine.images.list(
        all=True, filters={"label": f"hostd.test-stage={marker}", "dangling": True})}


def commit(root, stamp: str) -> None:
    (root / "stamp.txt").write_text(stamp)
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "commit", "-qam", stamp], check=True)


def test_a_redeploy_removes_the_previous_builds_stages_and_delete_the_rest(
        api, engine, tmp_path):
    marker = uuid.uuid4().hex[:12]
    root = tmp_path / "multi"
    url = make_repo(root, {"Dockerfile": DOCKERFILE.format(marker=marker),
                           "stamp.txt": "first\n"})
    project = wait_status(api, create(api, "stages", url, "static")["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    first = stage_images(engine, marker)
    assert len(first) == 1, "the build stage is left untagged, as the next build's cache"

    commit(root, "second\n")
    assert api.post(f"/api/projects/{project['id']}/deploy").status_code == 202
    project = wait_status(api, project["id"], {"running", "error"})
    assert project["status"] == "running", project["status_reason"]
    assert "second" in answers(published_port(engine, project["id"])).text
    second = stage_images(engine, marker)
    assert len(second) == 1 and second.isdisjoint(first), "the first build's stage is gone"

    assert api.delete(f"/api/projects/{project['id']}").status_code in (200, 204)
    assert stage_images(engine, marker) == set(), "deleting the project removes the rest"
