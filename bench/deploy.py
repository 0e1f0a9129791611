"""Deploy benchmark: create → `running` per template on the real engine. Prints numbers.

    .venv/bin/python bench/deploy.py [--runs 5] [--templates static,flask,nodejs,react,dockerfile]
                                     [--bootstrap]

A real hostd subprocess (its own data dir and HOSTD_INSTANCE label), warm base images
(`hostd images bootstrap` first), and for every run a repository whose dependency files
carry a fresh marker, so Docker's layer cache cannot skip the downloads: each flask run
pip-installs flask + gunicorn, each nodejs run npm-installs express, each react run is
create-vite's template-react (fetched once from the npm registry, tests/corpus.py; the
marker is its package.json's `description`) npm-installing React 19 and Vite and building.
Prints p50/min/max seconds per template, and the base images' sizes beside the ones
measured before the move to Debian 13; `--bootstrap` also times a fresh bootstrap
(bench/bootstrap.py). Everything the bench creates is removed at the end. Bounded: one
deploy may take 300 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bootstrap import fresh_bootstrap
from hostd.source.bases import CURRENT_BASES
from tests import corpus
from tests.plugins.engine import remove_instance_objects
from tests.support import HostdServer, auth, register, tls

DEPLOY_LIMIT_S = 300.0
# Measured with bench/bootstrap.py's method on the bookworm bases (e11820d), this machine:
# a fresh bootstrap took 113.4 s.
BEFORE_BOOTSTRAP_S = 113.4
BEFORE_MB = {"hostd/busybox:1": 2, "hostd/debian:bookworm": 117, "hostd/nginx:1-b5ccc87c": 137,
             "hostd/python:3.11": 193, "hostd/node:22": 265, "hostd/node:24": 267}


def fixture(template: str, marker: str) -> dict[str, str]:
    if template == "static":
        return {"public/index.html": f"<h1>bench {marker}</h1>\n"}
    if template == "flask":
        return {"app.py": "from flask import Flask\napp = Flask(__name__)\n\n"
                          "@app.get('/')\ndef index():\n    return 'ok'\n",
                "requirements.txt": f"# {marker}\nflask\ngunicorn\n"}
    if template == "nodejs":
        pkg = {"name": "bench", "version": "1.0.0", "description": marker,
               "scripts": {"start": "node server.js"}, "dependencies": {"express": "^4.19.2"}}
        return {"package.json": json.dumps(pkg),
                "server.js": "const app = require('express')();\n"
                             "app.get('/', (q, s) => s.send('ok'));\n"
                             "app.listen(process.env.PORT);\n"}
    if template == "dockerfile":
        return {"Dockerfile": "FROM hostd/busybox:1\nRUN mkdir -p /srv && echo ok > /srv/index.html"
                              f" # {marker}\n"
                              'CMD ["sh", "-c", "exec httpd -f -p $PORT -h /srv"]\n'}
    raise ValueError(template)


def vite_files(template_dir: Path, root: Path, marker: str) -> dict[str, str]:
    """create-vite's template-react copied to ``root``; the package.json to write over
    it, whose description is the run's marker."""
    shutil.copytree(template_dir, root)
    pkg = json.loads((template_dir / "package.json").read_text())
    return {"package.json": json.dumps({**pkg, "description": marker}, indent=2) + "\n"}


def make_repo(root: Path, files: dict[str, str]) -> str:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git = ["git", "-C", str(root), "-c", "user.email=b@example.com", "-c", "user.name=b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)
    return f"file://{root}"


def context_seconds(client: httpx.Client, project_id: str) -> float | None:
    """What the deploy's build log says making the build context took (hostd's own tar:
    the link-refusing walk, .dockerignore, the caps)."""
    lines = client.get(f"/api/projects/{project_id}/logs",
                       params={"source": "build", "tail": 5000}).json()["lines"]
    line = next((line for line in lines if line.startswith("build context:")), None)
    return float(line.rsplit(" in ", 1)[1].removesuffix(" ms")) / 1000 if line else None


def deploy_once(client: httpx.Client, template: str, url: str,
                name: str) -> tuple[float, str, float | None]:
    started = time.monotonic()
    body = {"name": name, "github_url": url,
            "template": "static" if template == "dockerfile" else template}
    project = client.post("/api/projects", json=body).json()["project"]
    while time.monotonic() - started < DEPLOY_LIMIT_S:
        project = client.get(f"/api/projects/{project['id']}").json()["project"]
        if project["status"] in ("running", "error"):
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    context = context_seconds(client, project["id"])
    client.delete(f"/api/projects/{project['id']}")
    outcome = project["status"] if project["status"] != "error" else project["status_reason"]
    return elapsed, outcome, context


def bench_template(client: httpx.Client, tmp: Path, template: str, runs: int) -> None:
    times, shares = [], []
    vite = corpus.vite_react(Path(tempfile.mkdtemp(dir=tmp)))[1] if template == "react" else None
    for run in range(runs):
        marker = uuid.uuid4().hex
        root = tmp / f"{template}-{run}"
        files = vite_files(vite, root, marker) if vite else fixture(template, marker)
        url = make_repo(root, files)
        seconds, outcome, context = deploy_once(client, template, url, f"b-{template}-{run}")
        context_text = f", context {context * 1000:.1f} ms" if context is not None else ""
        print(f"  {template} run {run + 1}: {seconds:.1f} s ({outcome}{context_text})",
              flush=True)
        if outcome == "running":
            times.append(seconds)
            if context is not None:
                shares.append(100 * context / seconds)
    if times:
        share = f"   context {statistics.median(shares):.2f} % of the deploy" if shares else ""
        print(f"{template:<10} p50 {statistics.median(times):5.1f} s   min {min(times):5.1f}   "
              f"max {max(times):5.1f}   ({len(times)}/{runs} reached running){share}",
              flush=True)


def print_bases(engine: docker.DockerClient, bootstrap: bool) -> None:
    """The bases' sizes now and before Debian 13, and the bootstrap's time."""
    print("base images before (bookworm) → now:", flush=True)
    for tag, size in BEFORE_MB.items():
        print(f"  before {tag:<26} {size:4d} MB")
    for tag in sorted(CURRENT_BASES):
        size = engine.images.get(tag).attrs["Size"] / 1e6
        print(f"  now    {tag:<26} {size:4.0f} MB")
    print(f"  before: a fresh bootstrap took {BEFORE_BOOTSTRAP_S:.1f} s (recorded)")
    if bootstrap:
        total, _ = fresh_bootstrap(engine)
        print(f"  now:    a fresh bootstrap took {total:.1f} s (measured just now)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--templates", default="static,flask,nodejs,react,dockerfile")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the daemon under test (repeatable)")
    parser.add_argument("--bootstrap", action="store_true",
                        help="also time a fresh bootstrap of every base (minutes)")
    args = parser.parse_args()
    print_bases(docker.from_env(timeout=600), args.bootstrap)
    extra_env = dict(item.split("=", 1) for item in args.env)
    instance = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="hostd-deploy-bench-") as tmp:
        server = HostdServer(data_dir=Path(tmp) / "data",
                             env_overrides={"HOSTD_INSTANCE": instance, "BCRYPT_ROUNDS": "4",
                                            **extra_env})
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=60, verify=tls()) as client:
                token, _ = register(client)
                client.headers.update(auth(token))
                for template in args.templates.split(","):
                    bench_template(client, Path(tmp), template, args.runs)
        except httpx.HTTPError:
            print("the daemon stopped answering; its log ends:\n" + server.logs()[-4000:])
            raise
        finally:
            server.stop()
            remove_instance_objects(docker.from_env(), instance)


if __name__ == "__main__":
    main()
