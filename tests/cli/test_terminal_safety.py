"""What an app or a repository wrote never drives the user's terminal: hostctl shows the
control characters in log lines and the daemon's messages as `\\xNN` on a terminal, and
passes log lines through untouched when piped. hostctl runs as a real process, once with
its output on a pseudo-terminal, against a small local server that answers as hostd."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hostctl.output import terminal_safe

# OSC 52 writes the clipboard; CSI 2J clears the screen; BEL, and a C1 CSI.
HOSTILE = "hello \x1b]52;c;cm0gLXJmIH4=\x07 \x1b[2J\x9b31m world"
PROJECT = {"id": "p1", "name": "shop", "status": "error",
           "status_reason": "the build failed: \x1b]0;pwned\x07", "url": "http://x",
           "template": "static", "github_url": "https://example.com/r.git",
           "created_at": "2026-12-01T12:00:00.000Z", "userId": "u1",
           "metrics": {"cpu": 0.0, "memory": 0.0, "requests": 0}}


class FakeHostd(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/api/projects/p1/logs"):
            body: dict = {"source": "runtime", "lines": [HOSTILE]}
        elif self.path == "/api/projects":
            body = {"projects": [PROJECT]}
        elif self.path.startswith("/api/projects/p1/deployments"):
            body = {"deployments": []}
        else:
            body = {"project": PROJECT}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHostd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def hostctl_on_a_terminal(url: str, *args: str) -> str:
    """hostctl's output as its pseudo-terminal received it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")}
    env.update(HOSTCTL_API_URL=url, HOSTCTL_TOKEN="t",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-c", "from hostctl.cli import main; main()",
                                *args], stdin=subprocess.DEVNULL, stdout=child, stderr=child,
                               env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=30)
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


def test_controls_are_shown_never_sent() -> None:
    assert terminal_safe(HOSTILE) == \
        "hello \\x1b]52;c;cm0gLXJmIH4=\\x07 \\x1b[2J\\x9b31m world"
    assert terminal_safe("tabs\tand\nnewlines stay") == "tabs\tand\nnewlines stay"


def test_log_lines_on_a_terminal_are_made_safe(fake_url: str) -> None:
    shown = hostctl_on_a_terminal(fake_url, "projects", "logs", "shop")
    assert "\\x1b]52;c;" in shown and "\x1b]52" not in shown and "\x07" not in shown
    assert "\x1b[2J" not in shown


def test_the_daemons_reason_on_a_terminal_is_made_safe(fake_url: str) -> None:
    shown = hostctl_on_a_terminal(fake_url, "projects", "show", "shop")
    assert "\\x1b]0;pwned" in shown and "\x1b]0;pwned" not in shown


def test_piped_log_lines_pass_untouched(fake_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTCTL_")}
    env.update(HOSTCTL_API_URL=fake_url, HOSTCTL_TOKEN="t",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    result = subprocess.run([sys.executable, "-c", "from hostctl.cli import main; main()",
                             "projects", "logs", "shop"], env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == HOSTILE + "\n"


def test_raw_keeps_the_apps_sequences_even_on_a_terminal(fake_url: str) -> None:
    shown = hostctl_on_a_terminal(fake_url, "projects", "logs", "shop", "--raw")
    assert "\x1b]52;c;" in shown and "\\x1b]52" not in shown
