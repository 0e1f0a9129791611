"""Build and run containers on the real engine: templates, lifecycle, isolation, events."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hostd.engine import (
    BaseImages,
    BuildFailed,
    ContainerInfo,
    ContainerMissing,
    EngineClient,
    build_image,
    container_logs,
    default_build_ca_bundle,
    engine_events,
    inspect_container,
    list_labelled_containers,
    prepare_build_context,
    remove_container,
    remove_image,
    restart_container,
    run_container,
    start_container,
    stop_container,
    wait_http,
)
from tests.support import tls

MIB = 1024 * 1024
BUILD_MEMORY = 1024 * MIB


def run(client: EngineClient, image: str, name: str, labels: dict[str, str]) -> ContainerInfo:
    return run_container(client, image, name, labels=labels, env={"GREETING": "hi"},
                         memory_bytes=256 * MIB, nano_cpus=500_000_000, pids_limit=100)


def build(client: EngineClient, context: Path, dockerfile: str | None, tag: str,
          labels: dict[str, str], memory: int = BUILD_MEMORY,
          extra: dict[str, bytes] | None = None) -> tuple[str, list[str]]:
    lines: list[str] = []
    image_id = build_image(client, context, dockerfile, tag, labels, memory, lines.append,
                           extra)
    return image_id, lines


def busybox_image(client: EngineClient, tmp_path: Path, name: str, labels: dict[str, str],
                  cmd: list[str]) -> str:
    """A tiny image FROM hostd/busybox with ``cmd``; its tag."""
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "index.html").write_text("busybox here\n")
    dockerfile = (f"FROM hostd/busybox:1\nCOPY index.html /www/\n"
                  f"CMD {json.dumps(cmd)}\n")
    tag = f"{name}:test"
    build(client, context, dockerfile, tag, labels)
    return tag


SITE_CMD = ["sh", "-c", "exec httpd -f -p $PORT -h /www"]


# --- the four templates, end to end -------------------------------------------------------

def static_repo(repo: Path) -> str:
    (repo / "public").mkdir()
    (repo / "public" / "index.html").write_text("<h1>static fixture</h1>\n")
    (repo / "README.md").write_text("not served\n")
    return "static fixture"


def react_repo(repo: Path) -> str:
    # No real React: a "build" script that writes dist/index.html, and no dependencies.
    (repo / "package.json").write_text(json.dumps(
        {"name": "fixture-react", "version": "1.0.0", "private": True,
         "scripts": {"build": "node build.js"}}))
    (repo / "build.js").write_text(
        "const fs = require('fs');\nfs.mkdirSync('dist', {recursive: true});\n"
        "fs.writeFileSync('dist/index.html', '<div id=root>react fixture</div>\\n');\n")
    return "react fixture"


def flask_repo(repo: Path) -> str:
    (repo / "requirements.txt").write_text("flask\ngunicorn\n")
    (repo / "app.py").write_text(
        "from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.get('/')\n"
        "def index():\n    return 'flask fixture'\n")
    return "flask fixture"


def nodejs_repo(repo: Path) -> str:
    (repo / "package.json").write_text(json.dumps(
        {"name": "fixture-node", "version": "1.0.0", "scripts": {"start": "node server.js"}}))
    (repo / "server.js").write_text(
        "require('http').createServer((req, res) => res.end('nodejs fixture ' +"
        " process.env.GREETING)).listen(process.env.PORT);\n")
    return "nodejs fixture hi"


def flask_run_repo(repo: Path) -> str:
    # No gunicorn listed: the template falls back to `flask run` on wsgi.py.
    (repo / "requirements.txt").write_text("flask\n")
    (repo / "wsgi.py").write_text(
        "from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.get('/')\n"
        "def index():\n    return 'flask run fixture'\n")
    return "flask run fixture"


FIXTURES: dict[str, tuple[str, Callable[[Path], str]]] = {
    "static": ("static", static_repo),
    "react": ("react", react_repo),
    "flask": ("flask", flask_repo),
    "flask-run": ("flask", flask_run_repo),
    "nodejs": ("nodejs", nodejs_repo),
}


@pytest.mark.parametrize("fixture", list(FIXTURES))
def test_template_builds_runs_and_answers(
    docker_client: EngineClient, base_images: BaseImages, repo: Path, fixture: str,
    labels: dict[str, str], unique_name: str, timings: dict[str, float],
) -> None:
    template, make_repo = FIXTURES[fixture]
    expected = make_repo(repo)
    # Flask's pip goes through a TLS-intercepting proxy: the host bundle must be passed.
    plan = prepare_build_context(template, repo, base_images, default_build_ca_bundle())
    started = time.monotonic()
    image_id, lines = build(docker_client, repo, plan.dockerfile, f"{unique_name}:1", labels,
                            extra=plan.extra)
    timings[f"{fixture}: build"] = time.monotonic() - started
    assert image_id.startswith("sha256:")
    assert any(line.startswith("Successfully built") for line in lines)

    started = time.monotonic()
    info = run(docker_client, f"{unique_name}:1", unique_name, labels)
    assert info.host_port is not None
    assert wait_http(info.host_port, timeout=30), "\n".join(
        container_logs(docker_client, info.id, tail=20))
    timings[f"{fixture}: run to first answer"] = time.monotonic() - started
    response = httpx.get(f"http://127.0.0.1:{info.host_port}/", verify=tls())
    assert response.status_code == 200
    assert expected in response.text


def test_repo_dockerfile_is_used(
    docker_client: EngineClient, base_images: BaseImages, repo: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    (repo / "Dockerfile").write_text(
        "FROM hostd/busybox:1\nRUN echo own-dockerfile > /www/index.html\n"
        f"CMD {json.dumps(SITE_CMD)}\n")
    plan = prepare_build_context("static", repo, base_images, None)
    assert plan.uses_repo_dockerfile
    build(docker_client, repo, plan.dockerfile, f"{unique_name}:1", labels)
    info = run(docker_client, f"{unique_name}:1", unique_name, labels)
    assert info.host_port is not None and wait_http(info.host_port, timeout=10)
    assert "own-dockerfile" in httpx.get(f"http://127.0.0.1:{info.host_port}/", verify=tls()).text


# --- failing builds -------------------------------------------------------------------------

def test_failing_build_raises_with_tail(
    docker_client: EngineClient, base_images: BaseImages, tmp_path: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    dockerfile = "FROM hostd/busybox:1\nRUN echo about to fail && exit 3\n"
    with pytest.raises(BuildFailed) as caught:
        build(docker_client, tmp_path, dockerfile, f"{unique_name}:1", labels)
    err = caught.value
    assert not err.oom
    assert "non-zero code: 3" in str(err)
    assert "about to fail" in err.log_tail
    assert any("RUN echo about to fail" in line for line in err.log_tail)


def test_unparseable_dockerfile_is_a_build_failure(
    docker_client: EngineClient, tmp_path: Path, labels: dict[str, str], unique_name: str,
) -> None:
    with pytest.raises(BuildFailed, match="(?i)unknown instruction"):
        build(docker_client, tmp_path, "FROM scratch\nNOTAN instruction\n",
              f"{unique_name}:1", labels)


def test_oom_killed_build_says_so(
    docker_client: EngineClient, base_images: BaseImages, tmp_path: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    # A shell variable of 200 MB in a 32 MB build container.
    dockerfile = ("FROM hostd/busybox:1\n"
                  "RUN x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}\n")
    with pytest.raises(BuildFailed) as caught:
        build(docker_client, tmp_path, dockerfile, f"{unique_name}:1", labels, memory=32 * MIB)
    assert caught.value.oom, caught.value.log_tail
    assert "ran out of memory" in str(caught.value)


# --- lifecycle ----------------------------------------------------------------------------

def test_stop_closes_the_port_and_start_reopens_it(
    docker_client: EngineClient, base_images: BaseImages, tmp_path: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    image = busybox_image(docker_client, tmp_path, unique_name, labels, SITE_CMD)
    info = run(docker_client, image, unique_name, labels)
    assert info.status == "running" and info.host_port is not None
    assert wait_http(info.host_port, timeout=10)

    stop_container(docker_client, info.id, timeout=2)
    stopped = inspect_container(docker_client, info.id)
    assert stopped is not None and not stopped.running and stopped.host_port is None
    assert not wait_http(info.host_port, timeout=1)

    start_container(docker_client, info.id)
    # The engine may choose another host port on every start: always read it back.
    started = inspect_container(docker_client, info.id)
    assert started is not None and started.running and started.host_port is not None
    assert wait_http(started.host_port, timeout=10)

    restart_container(docker_client, info.id, timeout=2)
    restarted = inspect_container(docker_client, info.id)
    assert restarted is not None and restarted.host_port is not None
    assert wait_http(restarted.host_port, timeout=10)


def test_container_exiting_at_start_shows_its_exit_code(
    docker_client: EngineClient, base_images: BaseImages, tmp_path: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    image = busybox_image(docker_client, tmp_path, unique_name, labels,
                          ["sh", "-c", "echo crashing; exit 3"])
    info = run(docker_client, image, unique_name, labels)
    deadline = time.monotonic() + 10
    state = inspect_container(docker_client, info.id)
    while (state is None or state.exit_code != 3) and time.monotonic() < deadline:
        time.sleep(0.1)
        state = inspect_container(docker_client, info.id)
    assert state is not None and state.exit_code == 3, state
    assert state.status in ("exited", "restarting")
    assert "crashing" in list(container_logs(docker_client, info.id, tail=5))


def test_missing_container_is_reported(docker_client: EngineClient) -> None:
    ghost = "hostd-test-no-such-container"
    for action in (start_container, stop_container, restart_container):
        with pytest.raises(ContainerMissing, match=ghost):
            action(docker_client, ghost)
    with pytest.raises(ContainerMissing):
        list(container_logs(docker_client, ghost, tail=1))
    assert inspect_container(docker_client, ghost) is None
    assert remove_container(docker_client, ghost, force=True) is False
    assert remove_image(docker_client, "hostd-test-no-such-image:1") is False


def test_list_logs_and_remove(
    docker_client: EngineClient, base_images: BaseImages, tmp_path: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    image = busybox_image(docker_client, tmp_path, unique_name, labels,
                          ["sh", "-c", "echo one; echo two >&2; echo $GREETING; exec sleep 60"])
    info = run(docker_client, image, unique_name, labels)
    listed = list_labelled_containers(docker_client, "hostd.test", labels["hostd.test"])
    assert info.id in [state.id for state in listed]
    assert all(state.labels["hostd.test"] == labels["hostd.test"] for state in listed)

    deadline = time.monotonic() + 5
    lines: list[str] = []
    while len(lines) < 3 and time.monotonic() < deadline:
        lines = list(container_logs(docker_client, info.id, tail=10))
    # stdout and stderr are separate pipes: their relative order is not kept.
    assert sorted(lines) == ["hi", "one", "two"]
    stamped = list(container_logs(docker_client, info.id, tail=3, timestamps=True))
    assert sorted(line.split(" ", 1)[1] for line in stamped) == ["hi", "one", "two"]
    assert all(line[:4].isdigit() for line in stamped)

    assert remove_container(docker_client, info.id, force=True) is True
    assert inspect_container(docker_client, info.id) is None
    assert remove_image(docker_client, image, force=True) is True


# --- isolation ----------------------------------------------------------------------------

def test_run_container_isolation(
    docker_client: EngineClient, base_images: BaseImages, tmp_path: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    image = busybox_image(docker_client, tmp_path, unique_name, labels, SITE_CMD)
    info = run(docker_client, image, unique_name, labels)
    attrs = docker_client.api.inspect_container(info.id)
    host = attrs["HostConfig"]
    assert host["Privileged"] is False
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Memory"] == host["MemorySwap"] == 256 * MIB
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 100
    assert host["RestartPolicy"]["Name"] == "no"
    assert host["Binds"] in (None, []) and attrs["Mounts"] == []
    bindings = attrs["NetworkSettings"]["Ports"]
    assert list(bindings) == ["8000/tcp"]
    assert [b["HostIp"] for b in bindings["8000/tcp"]] == ["127.0.0.1"]
    assert int(bindings["8000/tcp"][0]["HostPort"]) == info.host_port
    assert "PORT=8000" in attrs["Config"]["Env"]


# --- events -------------------------------------------------------------------------------

def test_engine_events_report_a_killed_container(
    docker_client: EngineClient, base_images: BaseImages, tmp_path: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    image = busybox_image(docker_client, tmp_path, unique_name, labels,
                          ["sh", "-c", "exec sleep 60"])
    info = run(docker_client, image, unique_name, labels)
    label = f"hostd.test={labels['hostd.test']}"
    events: queue.Queue[dict] = queue.Queue()

    def follow() -> None:
        until = int(time.time()) + 15  # bounded: the stream ends by itself
        for event in engine_events(docker_client, label, since=int(time.time()), until=until):
            events.put(event)

    threading.Thread(target=follow, daemon=True).start()
    time.sleep(0.5)  # let the stream subscribe before the kill
    killed_at = time.monotonic()
    docker_client.api.kill(info.id)
    while True:
        event = events.get(timeout=5)
        if event["id"] == info.id and event["Action"] == "die":
            break
    assert time.monotonic() - killed_at < 5
    assert event["Actor"]["Attributes"]["hostd.test"] == labels["hostd.test"]
    assert event["Actor"]["Attributes"]["exitCode"] == "137"
