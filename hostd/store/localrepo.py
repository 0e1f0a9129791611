"""Local repositories (HOSTD_ALLOW_LOCAL_REPOS): only under the directory the operator
named in HOSTD_LOCAL_REPOS_ROOT, its real path, after every symlink and `..`.

hostd runs as root: without the root, any account could clone whatever root can read
(`file:///etc`). Checked when a project is made (400) and again at each clone, on the
real path, which is what git is then given.
"""

from __future__ import annotations

import os
from pathlib import Path

NO_ROOT = ("must be a remote URL: local repositories need HOSTD_LOCAL_REPOS_ROOT, the "
           "directory the daemon's owner allows them under")
OUTSIDE = ("must be a local repository under the directory the daemon's owner set as "
           "HOSTD_LOCAL_REPOS_ROOT (its real path: symlinks and '..' are followed)")


def is_local(url: str) -> bool:
    """A `file://` URL or a path (hostd.store.validation accepts only absolute ones)."""
    return url.startswith(("file://", "/", "."))


def confined(url: str, root: Path | None) -> str:
    """The real path of the local repository `url` when it is under `root`, as a
    `file://` URL (git keeps a shallow clone shallow only over that transport).
    ValueError otherwise, with a message that names the setting and never the root."""
    if root is None:
        raise ValueError(NO_ROOT)
    path = url.removeprefix("file://")
    # git decodes %XX in file:// URLs: a path with % could name what was not checked.
    if "%" in path or "?" in path or "#" in path or not os.path.isabs(path):
        raise ValueError(OUTSIDE)
    real = os.path.realpath(path)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real, real_root]) != real_root or "%" in real:
        raise ValueError(OUTSIDE)
    return f"file://{real}"
