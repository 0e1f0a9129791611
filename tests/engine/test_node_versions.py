"""The Node.js line a project asks for: npm ranges, nvm files and aliases, refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostd.source.checkout import Checkout, UnsafeCheckout
from hostd.source.node_versions import NoNodeLine, choose_line, requested_range

HAVE = {22: "22.23.5", 24: "24.22.3"}


@pytest.mark.parametrize("wanted, line", [
    (">=20.19", 24), ("^22", 22), ("22.x", 22), (">=18 <23", 22), ("20 || 22", 22),
    ("lts/*", 24), ("22", 22), ("24", 24), (">= 22", 24), ("v22", 22), ("lts/jod", 22),
    ("node", 24), ("*", 24), ("^22.22.2 || ^24.15.0", 24), (">=22.0.0 <24.0.0", 22),
    (None, 24),
])
def test_the_newest_line_the_range_accepts(wanted: str | None, line: int) -> None:
    assert choose_line(wanted, HAVE) == line


@pytest.mark.parametrize("wanted", ["18.x", "<20", "^20", ">=26", "22.11.0", "lts/hydrogen"])
def test_a_range_no_line_satisfies_names_the_lines(wanted: str) -> None:
    with pytest.raises(NoNodeLine) as caught:
        choose_line(wanted, HAVE, "package.json engines.node")
    assert "package.json engines.node" in str(caught.value)
    if not wanted.startswith("lts/"):
        assert "22 (22.23.5), 24 (24.22.3)" in str(caught.value)


def test_an_unreadable_range_and_no_bases_are_refused() -> None:
    with pytest.raises(NoNodeLine, match="can read"):
        choose_line("twenty-two", HAVE)
    with pytest.raises(NoNodeLine, match="hostd images bootstrap"):
        choose_line("22", {})


def write(root: Path, files: dict[str, str]) -> Checkout:
    for name, text in files.items():
        (root / name).write_text(text)
    return Checkout(root)


@pytest.mark.parametrize("files, found", [
    ({"package.json": '{"engines": {"node": " 22.x "}}', ".nvmrc": "24"},
     ("package.json engines.node", "22.x")),
    ({"package.json": '{"engines": {"npm": ">=10"}}', ".nvmrc": "# pinned\nv22.11.0\n"},
     (".nvmrc", "22")),
    ({".node-version": "lts/*\n"}, (".node-version", "lts/*")),
    ({"package.json": "not json", ".nvmrc": "\n"}, None),
    ({}, None),
])
def test_where_the_range_comes_from(tmp_path: Path, files: dict[str, str],
                                    found: tuple[str, str] | None) -> None:
    assert requested_range(write(tmp_path, files)) == found


def test_a_linked_version_file_is_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("24\n")
    (tmp_path / "repo").mkdir()
    os.symlink(secret, tmp_path / "repo" / ".nvmrc")
    with pytest.raises(UnsafeCheckout, match="symbolic link"):
        requested_range(Checkout(tmp_path / "repo"))
