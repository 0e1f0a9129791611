"""Which template a directory needs, from the files at its top (for `hostctl up`).

Pure: it takes a function reading a top-level file (None when it is missing), so tests
need no directory. The rules, first match wins:

* a `Dockerfile`: hostd builds it (any template does; the choice below is only a label)
* `package.json` with a `build` script and react or vite among its dependencies: react
* `package.json`: nodejs
* `requirements.txt`, `pyproject.toml` or `app.py` mentioning flask: flask
* `index.html`: static

Both a Node and a Flask app at the top is ambiguous: an error that asks for --template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Reader = Callable[[str], str | None]
_FLASK = re.compile(r"\bflask\b", re.IGNORECASE)
FRONTEND_DEPS = ("react", "vite")


class DetectError(Exception):
    """No template fits, or more than one does; the message names --template."""


@dataclass(frozen=True)
class Detected:
    template: str
    why: str
    own_dockerfile: bool = False


def detect(read: Reader) -> Detected:
    node = _node(read)
    flask = _flask(read)
    if read("Dockerfile") is not None:
        label = node or flask or ("static", "")
        return Detected(label[0], "a Dockerfile: hostd builds it", own_dockerfile=True)
    if node and flask:
        raise DetectError(f"both a Node app ({node[1]}) and a Flask app ({flask[1]}) here: "
                          "choose with --template")
    found = node or flask
    if found is None and read("index.html") is not None:
        found = ("static", "index.html")
    if found is None:
        raise DetectError("no Dockerfile, package.json, requirements.txt, pyproject.toml, "
                          "app.py or index.html here: choose a template with --template")
    return Detected(found[0], found[1])


def _node(read: Reader) -> tuple[str, str] | None:
    text = read("package.json")
    if text is None:
        return None
    try:
        manifest = json.loads(text)
    except ValueError:
        raise DetectError("package.json is not valid JSON: fix it, or choose a template "
                          "with --template") from None
    if not isinstance(manifest, dict):
        return ("nodejs", "package.json")
    scripts = manifest.get("scripts")
    if not isinstance(scripts, dict):
        scripts = {}
    deps: set[str] = set()
    for key in ("dependencies", "devDependencies"):
        if isinstance(manifest.get(key), dict):
            deps.update(manifest[key])
    frontend = [name for name in FRONTEND_DEPS if name in deps]
    if "build" in scripts and frontend:
        return ("react", f"package.json: a build script and {frontend[0]}")
    return ("nodejs", "package.json")


def _flask(read: Reader) -> tuple[str, str] | None:
    for name in ("requirements.txt", "pyproject.toml", "app.py"):
        text = read(name)
        if text is not None and _FLASK.search(text):
            return ("flask", f"{name} mentions flask")
    return None


def directory_reader(root: Path, cap: int = 1024 * 1024) -> Reader:
    """Read a top-level regular file of `root` (links and big files count as missing)."""
    def read(name: str) -> str | None:
        path = root / name
        if path.is_symlink() or not path.is_file() or path.stat().st_size > cap:
            return None
        return path.read_text(errors="replace")

    return read
