"""A repository's own, hostile Dockerfile still gets hostd's container rules, and the
daemon's log never carries a password, a token or a hash (checked here on a daemon that
deployed, logged in, failed logins and logged out)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import httpx

from tests.deploy.conftest import create, wait_status
from tests.plugins.engine import remove_instance_objects
from tests.support import HASH_LEAK, HostdServer, auth, register, tls, unique_email

HOSTILE = {
    # Root, a volume, and a wish for the Docker socket: none of it may reach the host.
    "Dockerfile": "FROM hostd/busybox:1\nUSER 0:0\nVOLUME /var/run\n"
                  "RUN mkdir -p /srv && echo pwn > /srv/index.html\n"
                  'CMD ["sh", "-c", "exec httpd -f -p $PORT -h /srv"]\n',
}


def test_hostile_dockerfile_gets_no_privilege_no_host_mount_and_the_limits(
        engine: docker.DockerClient, base_images: None,
        repo: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    instance = f"test-{uuid.uuid4().hex[:12]}"
    server = HostdServer(data_dir=tmp_path / "data", env_overrides={
        "HOSTD_INSTANCE": instance, "HOSTD_CONTAINER_MEMORY_MB": "128",
        "HOSTD_CONTAINER_CPUS": "0.5", "HOSTD_CONTAINER_PIDS": "64"}).start()
    password, email = "pw-" + uuid.uuid4().hex, unique_email("iso")
    try:
        with httpx.Client(base_url=server.url, timeout=60, verify=tls()) as client:
            token, _ = register(client, email=email, password=password)
            client.headers.update(auth(token))
            project = create(client, "hostile", repo(HOSTILE), "static")
            assert wait_status(client, project["id"], {"running", "error"})["status"] == "running"
            login = client.post("/api/auth/login", json={"email": email, "password": password})
            client.post("/api/auth/login", json={"email": email, "password": password + "x"})
            client.post("/api/auth/logout", headers=auth(login.json()["token"]))
        (container,) = engine.containers.list(
            filters={"label": f"hostd.project={project['id']}"})
        host = container.attrs["HostConfig"]
        assert host["Privileged"] is False and "no-new-privileges" in host["SecurityOpt"]
        assert not host.get("CapAdd") and not host.get("Devices")
        assert {"NET_RAW", "MKNOD"} <= {c.removeprefix("CAP_") for c in host["CapDrop"]}
        # Root in its own image still cannot open a raw socket (no packet forging on the
        # bridge); the socket call itself is refused, so nothing is sent.
        raw = container.exec_run(["arping", "-c", "1", "-w", "1", "-I", "eth0", "127.0.0.1"],
                                 user="0")
        assert raw.exit_code != 0 and b"Operation not permitted" in raw.output
        assert not host.get("Binds")
        assert all(m["Type"] == "volume" for m in container.attrs["Mounts"])  # never bind
        assert "docker.sock" not in str(container.attrs["Mounts"])
        assert host["NetworkMode"] != "host" and host["PidMode"] != "host"
        assert host["IpcMode"] != "host" and host["UsernsMode"] != "host"
        assert host["Memory"] == 128 * 1024 * 1024 == host["MemorySwap"]
        assert host["NanoCpus"] == 500_000_000 and host["PidsLimit"] == 64
        assert {b["HostIp"] for b in host["PortBindings"]["8000/tcp"]} == {"127.0.0.1"}
        logs = server.logs()
        for secret in (password, token, login.json()["token"]):
            assert secret not in logs
        assert not HASH_LEAK.search(logs) and "eyJ" not in logs
    finally:
        server.kill9()
        remove_instance_objects(engine, instance)
