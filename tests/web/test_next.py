"""Where `/signin?next=` may send a signed-in user (hostd/web/static/js/nav.js), checked
with Node's URL parser, the WHATWG one browsers navigate with (the browser test does it
in Chromium: tests/web/test_browser_session.py). Skips without `node`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

NAV = Path(__file__).resolve().parents[2] / "hostd" / "web" / "static" / "js" / "nav.js"
HERE = "http://hostd.localhost:3000"
ELSEWHERE = ["/\\evil.example", "//evil.example", "\\\\evil.example", "/\\/evil.example",
             "https:evil.example", "http:\\\\evil.example", "https://evil.example/",
             "http://evil.example:3000/", "HTTP://EVIL.EXAMPLE", "/\t/evil.example",
             " //evil.example", "\n/\\evil.example", "javascript:alert(1)",
             "data:text/html,x", "http://hostd.localhost:3001/", "https://hostd.localhost:3000/",
             "", None]
HOME = ["/", "/projects/abc?x=1#y", "projects", "/.//evil.example", "http:evil.example",
        "/%5Cevil.example"]


def safe_next(targets: list[str | None]) -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node to run the page's module with")
    script = (f"import {{ safeNext }} from {json.dumps(NAV.as_uri())};\n"
              f"const here = {{ origin: {json.dumps(HERE)} }};\n"
              f"console.log(JSON.stringify({json.dumps(targets)}.map((t) => safeNext(t, here))));")
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True,
                          text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def test_next_elsewhere_is_home():
    assert safe_next(ELSEWHERE) == [f"{HERE}/"] * len(ELSEWHERE)


def test_next_on_this_origin_stays_there_as_a_whole_url():
    got = safe_next(HOME)
    assert all(url.startswith(f"{HERE}/") for url in got), got
    assert got[1] == f"{HERE}/projects/abc?x=1#y"
    assert got[3] == f"{HERE}//evil.example"  # a path of this origin, never `//evil` alone
