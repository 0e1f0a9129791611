"""Hostile checkouts for the source readers' tests."""

from __future__ import annotations

import os
from pathlib import Path

from hostd.source.checkout import Checkout


def linked_out(tmp_path: Path, name: str, outside_text: str) -> Checkout:
    """A checkout whose `name` is a symbolic link to a file outside it holding `outside_text`."""
    outside = tmp_path / "outside"
    outside.write_text(outside_text)
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(outside, repo / name)
    return Checkout(repo)
