"""What the classic builder lets hostd set on `RUN` steps: no security options, so no
capability can be dropped (SECURITY.md, "What hostd does not promise"). Should an engine
take them one day, this fails, and hostd should pass `no-new-privileges` and drop
`NET_RAW` and `MKNOD` for builds as it does for apps."""

from __future__ import annotations

import io
import json
import tarfile

import docker

from hostd.engine.context import DOCKERFILE_MEMBER


def test_the_build_api_refuses_security_options(docker_client: docker.DockerClient,
                                                labels: dict[str, str]) -> None:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        text = b"FROM hostd/busybox:1\nRUN true\n"
        member = tarfile.TarInfo(DOCKERFILE_MEMBER)
        member.size = len(text)
        tar.addfile(member, io.BytesIO(text))
    api = docker_client.api
    response = api._post(api._url("/build"), data=context.getvalue(), params={
        "dockerfile": DOCKERFILE_MEMBER, "rm": True, "forcerm": True, "pull": False,
        "labels": json.dumps(labels), "securityopt": "no-new-privileges"},
        headers={"Content-Type": "application/x-tar"})
    assert response.status_code == 400, response.text
    assert "does not support setting security options on build" in response.text
