"""hostd.control.upload: an uploaded archive is checked whole, then unpacked safely."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostd.control import upload
from tests.archives import hostile, write_archive

LIMITS = upload.ArchiveLimits(max_files=100, max_bytes=2**20)


def test_a_good_archive_unpacks_with_its_links(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "a.tar.gz", [
        ("index.html", "file", "<h1>hi</h1>"), ("sub", "dir", ""),
        ("sub/app.js", "file", "x"), ("sub/index", "sym", "../index.html"),
        ("here", "sym", "."), ("sub/deep/x", "file", "y")])
    summary = upload.unpack(path, tmp_path / "tree", LIMITS)
    assert summary.files == 6
    assert (tmp_path / "tree" / "index.html").read_text() == "<h1>hi</h1>"
    assert os.readlink(tmp_path / "tree" / "sub" / "index") == "../index.html"
    assert (tmp_path / "tree" / "sub" / "deep" / "x").read_text() == "y"


@pytest.mark.parametrize("case", sorted(hostile(Path("/x/outside"))))
def test_each_guard_refuses_and_writes_nothing(tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    members, named = hostile(outside)[case]
    path = write_archive(tmp_path / "bad.tar.gz", members)
    with pytest.raises(upload.UnsafeArchive) as refused:
        upload.unpack(path, tmp_path / "tree", LIMITS)
    assert repr(named) in str(refused.value) or named in str(refused.value)
    assert not (tmp_path / "tree").exists()  # refused before anything was unpacked
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz", "outside"]


def test_member_and_size_caps_name_their_setting(tmp_path: Path) -> None:
    many = write_archive(tmp_path / "many.tar.gz", [(f"f{i}", "file", "") for i in range(11)])
    with pytest.raises(upload.ArchiveTooLarge, match="HOSTD_MAX_SOURCE_FILES"):
        upload.check_archive(many, upload.ArchiveLimits(max_files=10, max_bytes=2**20))
    big = write_archive(tmp_path / "big.tar.gz", [("f", "file", "x" * 3000)])
    with pytest.raises(upload.ArchiveTooLarge, match="HOSTD_MAX_SOURCE_MB"):
        upload.check_archive(big, upload.ArchiveLimits(max_files=10, max_bytes=2048))


@pytest.mark.parametrize("body", [b"", b"not a tar at all", b"\x1f\x8b\x08\x00garbage"])
def test_a_body_that_is_not_a_gzipped_tar_is_refused(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "x.tar.gz"
    path.write_bytes(body)
    with pytest.raises(upload.UnsafeArchive, match="not a gzip'd tar"):
        upload.check_archive(path, LIMITS)


def test_a_plain_tar_is_not_a_gzipped_one(tmp_path: Path) -> None:
    import gzip

    gz = write_archive(tmp_path / "a.tar.gz", [("f", "file", "x")])
    plain = tmp_path / "a.tar"
    plain.write_bytes(gzip.decompress(gz.read_bytes()))
    with pytest.raises(upload.UnsafeArchive, match="not a gzip'd tar"):
        upload.check_archive(plain, LIMITS)
