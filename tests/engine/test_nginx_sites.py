"""Static sites on hostd's nginx base, against the real engine: keep-alive, types, 404s,
gzip, redirects, one worker per CPU of the quota, client-side routing, a graceful stop.
(Split from test_containers: the same helpers.)"""


from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hostd.engine import (
    BaseImages,
    ContainerInfo,
    EngineClient,
    container_logs,
    inspect_container,
    prepare_build_context,
    run_container,
    stop_container,
    wait_http,
)
from tests.engine.test_containers import FIXTURES, MIB, build, react_repo, run, static_repo
from tests.support import tls

# --- static sites: nginx ---------------------------------------------------------------------

BURST = 64


def serve_site(client: EngineClient, base_images: BaseImages, repo: Path, template: str,
               name: str, labels: dict[str, str]) -> ContainerInfo:
    """Build ``repo`` with ``template`` and run it as hostd does; its port answers."""
    plan = prepare_build_context(template, repo, base_images, None)
    build(client, repo, plan.dockerfile, f"{name}:1", labels)
    info = run(client, f"{name}:1", name, labels)
    assert info.host_port is not None
    assert wait_http(info.host_port, timeout=30), "\n".join(
        container_logs(client, info.id, tail=20))
    return info


def get(port: int, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10, verify=tls())


def answered_burst(port: int, count: int) -> list[bytes]:
    """``count`` new connections opened at once, each sending one GET; their status lines."""
    barrier = threading.Barrier(count, timeout=20)

    def one() -> bytes:
        barrier.wait()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: burst\r\nConnection: close\r\n\r\n")
            return sock.makefile("rb").readline()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: one(), range(count), timeout=60))


@pytest.mark.parametrize("fixture", ["static", "react"])
def test_site_is_served_by_nginx_with_keep_alive(
    docker_client: EngineClient, base_images: BaseImages, repo: Path, fixture: str,
    labels: dict[str, str], unique_name: str,
) -> None:
    template, make_repo = FIXTURES[fixture]
    expected = make_repo(repo)
    info = serve_site(docker_client, base_images, repo, template, unique_name, labels)
    assert info.host_port is not None
    first = get(info.host_port, "/")
    assert first.headers["server"] == "nginx"  # server_tokens off: no version
    assert first.headers["content-type"] == "text/html" and expected in first.text

    # Two requests on one TCP connection: the socket survives the first response.
    conn = http.client.HTTPConnection("127.0.0.1", info.host_port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        assert expected in response.read().decode() and not response.will_close
        sock = conn.sock
        conn.request("GET", "/index.html")
        assert conn.getresponse().read() and conn.sock is sock is not None
    finally:
        conn.close()

    statuses = answered_burst(info.host_port, BURST)
    assert statuses == [b"HTTP/1.1 200 OK\r\n"] * BURST

    # One access-log line per request on stdout, for `hostctl projects logs`; the engine
    # delivers them a moment later on a busy machine.
    deadline = time.monotonic() + 10
    while True:
        logs = list(container_logs(docker_client, info.id, tail=BURST + 10))
        served = sum('"GET / HTTP/1.1" 200' in line for line in logs)
        if served >= BURST or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert served >= BURST


def test_static_site_types_404_gzip_and_relative_redirects(
    docker_client: EngineClient, base_images: BaseImages, repo: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    static_repo(repo)
    (repo / "public" / "style.css").write_text("body { color: red; }\n" * 200)
    (repo / "public" / "app.js").write_text("console.log('hi');\n")
    (repo / "public" / "docs").mkdir()
    (repo / "public" / "docs" / "index.html").write_text("docs page\n")
    (repo / "public" / "docs" / ".secret").write_text("no\n")
    (repo / "public" / ".env").write_text("SECRET=1\n")
    (repo / "public" / ".well-known").mkdir()
    (repo / "public" / ".well-known" / "security.txt").write_text("Contact: a@b.c\n")
    info = serve_site(docker_client, base_images, repo, "static", unique_name, labels)
    port = info.host_port
    assert port is not None
    css = get(port, "/style.css", **{"accept-encoding": "gzip"})
    assert css.headers["content-type"] == "text/css"
    assert css.headers["content-encoding"] == "gzip" and css.text.startswith("body {")
    assert get(port, "/app.js").headers["content-type"] == "application/javascript"
    assert get(port, "/no/such/page").status_code == 404
    assert get(port, "/README.md").status_code == 404  # only public/ is served
    # Dotfiles are never served (a `.env` next to the site), .well-known is.
    assert get(port, "/.env").status_code == 404
    assert get(port, "/docs/.secret").status_code == 404
    assert get(port, "/.well-known/security.txt").text == "Contact: a@b.c\n"
    # Behind a published port nginx's own 8000 is wrong: the redirect stays relative.
    redirect = get(port, "/docs")
    assert redirect.status_code == 301 and redirect.headers["location"] == "/docs/"
    assert "docs page" in get(port, "/docs/").text


def test_nginx_runs_one_worker_per_cpu_of_the_quota(
    docker_client: EngineClient, base_images: BaseImages, repo: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    static_repo(repo)
    plan = prepare_build_context("static", repo, base_images, None)
    build(docker_client, repo, plan.dockerfile, f"{unique_name}:1", labels)
    cores = os.cpu_count() or 1
    for cpus, expected in ((0.5, 1), (2.0, min(2, cores))):
        info = run_container(docker_client, f"{unique_name}:1", f"{unique_name}-{expected}",
                             labels=labels, env={}, memory_bytes=256 * MIB,
                             nano_cpus=int(cpus * 1e9), pids_limit=100)
        assert info.host_port is not None and wait_http(info.host_port, timeout=30)
        top = docker_client.containers.get(info.id).top()
        workers = [p for p in top["Processes"] if "worker process" in " ".join(p)]
        assert len(workers) == expected, (cpus, top["Processes"])
        docker_client.containers.get(info.id).remove(force=True)


def test_react_site_falls_back_to_index_html(
    docker_client: EngineClient, base_images: BaseImages, repo: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    expected = react_repo(repo)
    info = serve_site(docker_client, base_images, repo, "react", unique_name, labels)
    assert info.host_port is not None
    routed = get(info.host_port, "/users/42")  # a client-side route
    assert routed.status_code == 200 and expected in routed.text
    assert routed.headers["content-type"] == "text/html"


def test_nginx_site_stops_gracefully(
    docker_client: EngineClient, base_images: BaseImages, repo: Path,
    labels: dict[str, str], unique_name: str,
) -> None:
    static_repo(repo)
    info = serve_site(docker_client, base_images, repo, "static", unique_name, labels)
    stop_container(docker_client, info.id, timeout=10)
    state = inspect_container(docker_client, info.id)
    # SIGQUIT (the image's STOPSIGNAL) reaches nginx through docker-init and `exec`:
    # a clean exit, not the SIGKILL after the timeout (137).
    assert state is not None and not state.running and state.exit_code == 0


