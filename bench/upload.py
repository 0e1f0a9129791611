"""Upload benchmark: `hostctl up` of a directory → serving, against `hostctl projects
create` from a local git URL of the same tree (HOSTD_ALLOW_LOCAL_REPOS). Prints numbers.

    .venv/bin/python bench/upload.py [--runs 1] [--big-files 5000] [--big-mb 100]
                                     [--check-only]

Each run makes two trees of the same shape with different markers (one for `up`, one
for the git repository), so neither deploy finds the other's build in Docker's cache.
Two shapes: a small nodejs app (node's own http module: no npm download) and a static
site of `--big-files` files, `--big-mb` MB in all, of random bytes (incompressible: the
upload is as big as the tree). Each is timed from the command's start to the first 200
through the router; then `up` of the same tree again ("unchanged": pack, hash, upload,
no deploy). hostctl runs as a real process. A real hostd subprocess with its own data
dir and HOSTD_INSTANCE label, warm base images (`hostd images bootstrap` first);
everything it creates is removed at the end.

First, with no engine (alone with `--check-only`): the archive check's CPU and wall time
in this process, on the big tree packed by hostctl and on the hostile archives of
tests/archives.py (a 512 MiB long-name header, pathological names).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hostctl.pack import pack
from hostd.control import upload
from tests.archives import archive, extension_bomb, pathological_names
from tests.plugins.engine import remove_instance_objects
from tests.support import HostdServer, auth, register, tls

LIMIT_S = 600.0
SERVER_JS = ("require('http').createServer((q, s) => s.end('ok'))"
             ".listen(process.env.PORT);\n")


def small_node(root: Path, marker: str) -> None:
    root.mkdir(parents=True)
    pkg = {"name": "bench", "version": "1.0.0", "description": marker,
           "scripts": {"start": "node server.js"}}
    (root / "package.json").write_text(json.dumps(pkg))
    (root / "server.js").write_text(SERVER_JS)


def big_static(root: Path, marker: str, files: int, megabytes: int) -> None:
    root.mkdir(parents=True)
    (root / "index.html").write_text(f"<h1>bench {marker}</h1>\n")
    size = megabytes * 2**20 // files
    for index in range(files - 1):
        folder = root / "assets" / f"d{index // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:05d}.bin").write_bytes(os.urandom(size))


def commit(root: Path) -> str:
    git = ["git", "-C", str(root), "-c", "user.email=b@example.com", "-c", "user.name=b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)
    return f"file://{root}"


def hostctl(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", "from hostctl.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=LIMIT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"hostctl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def until_served(server: HostdServer, client: httpx.Client, name: str) -> None:
    project = next(p for p in client.get("/api/projects").json()["projects"]
                   if p["name"] == name)
    host = urlsplit(project["url"]).netloc
    deadline = time.monotonic() + 30
    while httpx.get(f"http://127.0.0.1:{server.router_port}/", headers={"Host": host},
                    timeout=10, verify=tls()).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} never served through the router")
        time.sleep(0.05)


def served_after(server: HostdServer, client: httpx.Client, env: dict[str, str], name: str,
                 *args: str) -> float:
    """Seconds from starting `hostctl ARGS` to the first 200 of `name` through the router."""
    started = time.monotonic()
    hostctl(env, *args)
    until_served(server, client, name)
    return time.monotonic() - started


def bench_tree(server: HostdServer, client: httpx.Client, env: dict[str, str], label: str,
               make: Callable[[Path, str], None], template: str, runs: int, tmp: Path) -> None:
    ups, unchanged, creates = [], [], []
    for run in range(runs):
        marker = uuid.uuid4().hex[:8]
        slug = "small" if "nodejs" in label else "big"
        root = tmp / f"{slug}-{run}"
        make(root, marker)
        name = f"u-{slug}-{run}-{marker[:4]}"
        ups.append(served_after(server, client, env, name, "up", str(root), "--name", name,
                                "--json"))
        started = time.monotonic()
        hostctl(env, "up", str(root), "--name", name, "--json")
        unchanged.append(time.monotonic() - started)
        # A tree of its own (another marker): the up's build must not warm this one's cache.
        other = tmp / f"{slug}-{run}-git"
        make(other, uuid.uuid4().hex[:8])
        url = commit(other)
        git_name = f"g-{slug}-{run}-{marker[:4]}"
        creates.append(served_after(server, client, env, git_name, "projects", "create",
                                    git_name, "--repo", url, "--template", template, "--json"))
        for project in client.get("/api/projects").json()["projects"]:
            client.delete(f"/api/projects/{project['id']}")
    print(f"{label:<22} up → serving {statistics.median(ups):6.2f} s   up unchanged "
          f"{statistics.median(unchanged):6.2f} s   create from git → serving "
          f"{statistics.median(creates):6.2f} s   ({runs} run{'s' * (runs > 1)})", flush=True)


def timed_check(label: str, path: Path) -> None:
    limits = upload.ArchiveLimits(max_files=50_000, max_bytes=1024 * 2**20)
    cpu, wall = time.process_time(), time.monotonic()
    try:
        summary = upload.check_archive(path, limits)
        outcome = f"{summary.files} members, {summary.bytes / 2**20:.0f} MB"
    except upload.UnsafeArchive as refused:
        outcome = f"refused: {str(refused)[:60]}"
    print(f"check {label:<24} {path.stat().st_size / 2**10:9.1f} KB  cpu "
          f"{time.process_time() - cpu:6.3f} s  wall {time.monotonic() - wall:6.3f} s  "
          f"{outcome}", flush=True)


def bench_check(tmp: Path, files: int, megabytes: int) -> None:
    big_static(tmp / "check-tree", "check", files, megabytes)
    timed_check(f"{files} files/{megabytes} MB", pack(tmp / "check-tree", tmp / "t.tgz").path)
    bomb = tmp / "bomb.tgz"
    bomb.write_bytes(extension_bomb(b"L", 512 * 2**20))
    timed_check("512 MiB long name", bomb)
    for case, (members, _) in pathological_names().items():
        path = tmp / f"{case}.tgz"
        path.write_bytes(archive(members))
        timed_check(case, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--big-files", type=int, default=5000)
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--check-only", action="store_true")
    args = parser.parse_args()
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="hostd-upload-bench-") as tmp:
        bench_check(Path(tmp), args.big_files, args.big_mb)
        if args.check_only:
            return
        server = HostdServer(data_dir=Path(tmp) / "data",
                             env_overrides={"HOSTD_INSTANCE": instance, "BCRYPT_ROUNDS": "4"})
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=60, verify=tls()) as client:
                token, _ = register(client)
                client.headers.update(auth(token))
                env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")},
                       "HOSTCTL_API_URL": server.url, "HOSTCTL_TOKEN": token,
                       "HOSTCTL_CONFIG_DIR": str(Path(tmp) / "hostctl"),
                       "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
                bench_tree(server, client, env, "small nodejs", small_node, "nodejs",
                           args.runs, Path(tmp))
                big = f"{args.big_files} files/{args.big_mb} MB"
                bench_tree(server, client, env, big,
                           lambda root, marker: big_static(root, marker, args.big_files,
                                                           args.big_mb),
                           "static", args.runs, Path(tmp))
        finally:
            server.stop()
            remove_instance_objects(docker.from_env(), instance)


if __name__ == "__main__":
    main()
