"""Which Node.js line a project runs on: its ``engines.node`` range, else ``.nvmrc`` /
``.node-version``, matched against the lines hostd has (``hostd/node:22``, ``:24``).

Pure (no docker): the versions hostd has are passed in, read from the images' labels by
``images.node_base_for``. Ranges are npm's (``>=20.19``, ``^22``, ``22.x``,
``>=18 <23``, ``20 || 22``, a bare ``22``), parsed by ``semantic_version``'s NpmSpec;
nvm's aliases (``lts/*``, ``node``, ``lts/jod``…) are mapped to a line first. The
newest line whose exact version satisfies the range wins; none is :class:`NoNodeLine`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import semantic_version

from hostd.source.checkout import Checkout

NODE_LINES: tuple[int, ...] = (22, 24)
DEFAULT_NODE_LINE = max(NODE_LINES)
NODE_REPOSITORY = "hostd/node"
VERSION_FILES = (".nvmrc", ".node-version")
# nvm's LTS code names for the lines it could mean here (older names: no line of ours).
LTS_NAMES = {"iron": 20, "jod": 22, "krypton": 24}
_NEWEST_ALIASES = frozenset({"lts/*", "node", "latest", "stable", "current", "lts"})
_VERSION = re.compile(r"[vV]?(\d+)(\.\d+){0,2}")
_SPACED_OPERATOR = re.compile(r"(<=|>=|<|>|=|~|\^)\s+")


class NoNodeLine(ValueError):
    """No Node.js line hostd has satisfies the project's range; the message says which."""


def node_image(line: int) -> str:
    return f"{NODE_REPOSITORY}:{line}"


def requested_range(repo: Checkout) -> tuple[str, str] | None:
    """(where it was found, the range text) from package.json's ``engines.node``, else
    the first line of .nvmrc / .node-version; None when the project says nothing.
    Read through the Checkout: a link or an oversized file is UnsafeCheckout."""
    text = repo.read_text("package.json")
    if text is not None:
        engines = _json_object(text).get("engines")
        wanted = engines.get("node") if isinstance(engines, dict) else None
        if isinstance(wanted, str) and wanted.strip():
            return "package.json engines.node", wanted.strip()
    for name in VERSION_FILES:
        content = repo.read_text(name, max_bytes=4096)
        line = next((ln.split("#")[0].strip() for ln in (content or "").splitlines()
                     if ln.split("#")[0].strip()), "")
        if line:
            # nvm installs the exact version a file names; hostd has one per line, the
            # newest, so a version here picks its line.
            version = _VERSION.fullmatch(line)
            return name, version.group(1) if version else line
    return None


def choose_line(wanted: str | None, available: Mapping[int, str], where: str = "") -> int:
    """The newest line in ``available`` (line -> its exact version) that ``wanted``
    accepts; ``wanted`` None: the newest line. Raises NoNodeLine."""
    if not available:
        raise NoNodeLine("hostd has no Node.js base image: run `hostd images bootstrap`")
    newest_first = sorted(available, reverse=True)
    if wanted is None or wanted.lower() in _NEWEST_ALIASES:
        return newest_first[0]
    spec = _spec(wanted, where)
    for line in newest_first:
        if spec.match(semantic_version.Version(available[line])):
            return line
    raise NoNodeLine(_unsatisfied(wanted, where, available))


def _spec(wanted: str, where: str) -> semantic_version.NpmSpec:
    text = wanted.strip()
    lowered = text.lower()
    if lowered.startswith("lts/"):
        line = LTS_NAMES.get(lowered.removeprefix("lts/"))
        if line is None:
            raise NoNodeLine(f"{_said(wanted, where)}: an LTS name hostd doesn't know")
        text = str(line)
    # npm accepts `>= 22` and `v22`; NpmSpec wants `>=22`.
    text = _SPACED_OPERATOR.sub(r"\1", text)
    text = " ".join(part.removeprefix("v").removeprefix("V") for part in text.split(" "))
    try:
        return semantic_version.NpmSpec(text)
    except ValueError:
        raise NoNodeLine(f"{_said(wanted, where)}: not a version range hostd can "
                         "read (e.g. 24, 22.x, ^22, >=20.19)") from None


def _unsatisfied(wanted: str, where: str, available: Mapping[int, str]) -> str:
    have = ", ".join(f"{line} ({available[line]})" for line in sorted(available))
    return f"{_said(wanted, where)}: no Node.js line hostd has satisfies it (it has {have})"


def _said(wanted: str, where: str) -> str:
    return f"{where} asks for Node.js {wanted!r}" if where else f"Node.js {wanted!r}"


def _json_object(text: str) -> dict[str, object]:
    # A broken package.json is npm's to report in the build, not a reason to pick a line.
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
