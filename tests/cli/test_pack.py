"""hostctl.pack: what `hostctl up` sends, and that the same tree gives the same bytes."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

from hostctl.pack import pack, source_names

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def git_init(root: Path) -> None:
    subprocess.run([*GIT, "-C", str(root), "init", "-q", "-b", "main"], check=True)
    subprocess.run([*GIT, "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(root), "commit", "-q", "-m", "x"], check=True)


def members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_a_plain_directory_minus_the_never_packed_and_hostdignore(tmp_path: Path) -> None:
    root = tree(tmp_path / "app", {
        "index.html": "hi", "src/a.js": "a", "node_modules/x/i.js": "x",
        "pkg/__pycache__/m.pyc": "c", ".venv/bin/python": "p", ".git/config": "g",
        "build/out.txt": "o", "debug.log": "l", "keep.log": "k",
        ".hostdignore": "build/\n*.log\n!keep.log\n", ".gitignore": "secret.txt\n",
        "secret.txt": "s"})
    assert source_names(root) == [".gitignore", ".hostdignore", "index.html", "keep.log",
                                  "src/a.js"]


def test_in_git_uncommitted_changes_go_in_and_gitignored_files_do_not(tmp_path: Path) -> None:
    root = tree(tmp_path / "repo", {"app.py": "v1", ".gitignore": "*.env\ndist/\n",
                                    "gone.txt": "x"})
    git_init(root)
    (root / "app.py").write_text("v2, not committed")
    (root / "new.py").write_text("untracked")
    (root / "local.env").write_text("SECRET=1")
    tree(root, {"dist/bundle.js": "b"})
    (root / "gone.txt").unlink()  # deleted, not committed
    names = source_names(root)
    assert names == [".gitignore", "app.py", "new.py"]
    packed = pack(root, tmp_path / "a.tar.gz")
    with tarfile.open(packed.path, "r:gz") as tar:
        extracted = tar.extractfile("app.py")
        assert extracted is not None and extracted.read() == b"v2, not committed"


def test_a_subdirectory_of_a_repository_packs_only_itself(tmp_path: Path) -> None:
    root = tree(tmp_path / "mono", {"web/index.html": "w", "api/app.py": "a"})
    git_init(root)
    assert source_names(root / "web") == ["index.html"]


def test_links_go_in_as_links_never_followed(tmp_path: Path) -> None:
    outside = tree(tmp_path / "outside", {"secret": "s"})
    root = tree(tmp_path / "app", {"index.html": "hi"})
    os.symlink("index.html", root / "home.html")
    os.symlink(outside, root / "out")  # a link to a directory: not descended
    found = members(pack(root, tmp_path / "a.tar.gz").path)
    assert found["home.html"].issym() and found["home.html"].linkname == "index.html"
    assert found["out"].issym() and found["out"].linkname == str(outside)
    assert "out/secret" not in found


def test_the_archive_is_deterministic(tmp_path: Path) -> None:
    files = {"b.txt": "b", "a/x.sh": "#!/bin/sh", "a/y.txt": "y"}
    one = tree(tmp_path / "one", files)
    (one / "a/x.sh").chmod(0o750)
    first = pack(one, tmp_path / "1.tar.gz")
    os.utime(one / "b.txt", (1, 1))  # a touch changes nothing
    again = pack(one, tmp_path / "2.tar.gz")
    two = tree(tmp_path / "two", dict(reversed(list(files.items()))))  # other order, times
    (two / "a/x.sh").chmod(0o700)
    other = pack(two, tmp_path / "3.tar.gz")
    assert first.sha256 == again.sha256 == other.sha256
    assert first.path.read_bytes() == other.path.read_bytes()
    found = members(first.path)
    assert list(found) == ["a/x.sh", "a/y.txt", "b.txt"]
    assert found["a/x.sh"].mode == 0o755 and found["b.txt"].mode == 0o644
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in found.values()} == {
        (0, 0, 0, "", "")}
    assert first.path.read_bytes()[4:8] == b"\0\0\0\0"  # the gzip header's mtime
    (one / "b.txt").write_text("changed")
    assert pack(one, tmp_path / "4.tar.gz").sha256 != first.sha256
