"""hostd.control.upload: an uploaded archive is checked whole, then unpacked safely."""

from __future__ import annotations

import gzip
import os
import re
import time
from pathlib import Path

import pytest

from hostd.control import upload
from hostd.control.archive_stream import BoundedSource, OverCap
from tests.archives import (
    extension_bomb,
    hostile,
    pax_archive,
    raw_archive,
    write_archive,
)

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
    gz = write_archive(tmp_path / "a.tar.gz", [("f", "file", "x")])
    plain = tmp_path / "a.tar"
    plain.write_bytes(gzip.decompress(gz.read_bytes()))
    with pytest.raises(upload.UnsafeArchive, match="not a gzip'd tar"):
        upload.check_archive(plain, LIMITS)


# Bounds (hostd.control.archive_stream, hostd.control.archive_tree): each refused before
# tarfile reads what it would not bound, with a message that says where.

@pytest.mark.parametrize("kind, cap", [(b"L", 3073), (b"K", 3073), (b"x", 16384),
                                       (b"g", 16384)])
def test_an_extension_header_is_refused_by_its_declared_size(tmp_path: Path, kind: bytes,
                                                              cap: int) -> None:
    path = tmp_path / "a.tar.gz"
    path.write_bytes(extension_bomb(kind, cap + 1))
    with pytest.raises(upload.UnsafeArchive, match=f"header at byte 0 declares .* {cap + 1} "):
        upload.check_archive(path, LIMITS)


def test_extension_headers_count_against_the_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "a.tar.gz"
    path.write_bytes(raw_archive([("././@LongLink", b"L", b"n" * 3000 + b"\0"),
                                  ("x", b"0", b"")]))
    with pytest.raises(upload.ArchiveTooLarge, match="HOSTD_MAX_SOURCE_MB"):
        upload.check_archive(path, upload.ArchiveLimits(max_files=10, max_bytes=2048))


def _pax_record(key: str, size: int) -> bytes:
    """One pax record ("<length> <key>=<value>\\n") of about `size` bytes."""
    body = f" {key}=" + "v" * (size - len(key) - 8) + "\n"
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))
    return f"{length}{body}".encode()


@pytest.mark.parametrize("body, says", [
    (lambda: extension_bomb(b"x", 16384, fill=b"1"), "malformed record at byte 0"),
    (lambda: pax_archive({"path": "9" * 65}), "run of more than 64 digits"),
    (lambda: pax_archive({"GNU.sparse.size": "10"}), "sparse"),
    (lambda: raw_archive([("s", b"S", b"")]), "member 's' is a sparse file"),
    (lambda: raw_archive([("././@LongLink", b"L", b"n\0")] * 5 + [("x", b"0", b"")]),
     "more than 4 in a row"),
    (lambda: raw_archive([("g", b"g", _pax_record("comment", 9000)), ("a", b"0", b""),
                          ("g", b"g", _pax_record("comment2", 9000)), ("b", b"0", b"")]),
     "global pax headers declare more than 16384 bytes in all"),
])
def test_pax_records_sparse_files_and_header_chains(tmp_path: Path, body, says) -> None:
    path = tmp_path / "a.tar.gz"
    path.write_bytes(body())
    with pytest.raises(upload.UnsafeArchive, match=says):
        upload.check_archive(path, LIMITS)


@pytest.mark.parametrize("members, says", [
    ([("a/" * 1536 + "é", "file", "")], "is 3074 bytes long, more than 3072"),
    ([("a/" * 128 + "f", "file", "")], "129 path components, more than 128"),
    ([("a" * 256, "file", "")], "a component longer than 255 bytes"),
    ([("l", "sym", "a/" * 129)], "the link target of member 'l' has 129 path components"),
    ([("l", "sym", "x/" * 1537)], "the link target of member 'l' is 3074 bytes"),
    ([("sub/x", "file", ""), ("sub", "sym", ".")], "member 'sub' is both a directory"),
    ([("l", "sym", "."), ("l", "file", "")], "member 'l' is declared again"),
    ([("a", "sym", "b"), ("b", "sym", "a")], "member 'a': its link target 'b' leads out"),
    ([("l", "sym", "x/y/../../..")], "member 'l': its link target"),
])
def test_names_and_link_targets_have_limits(tmp_path: Path, members, says) -> None:
    path = write_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(upload.UnsafeArchive, match=re.escape(says)):
        upload.check_archive(path, LIMITS)


def test_names_and_links_at_the_limits_unpack(tmp_path: Path) -> None:
    deep = "/".join(["d" * 22] * 127)
    long_name = "n" * (3072 - len(deep) - 1)
    path = write_archive(tmp_path / "a.tar.gz", [
        (f"{deep}/{long_name}", "file", "x"), ("top", "sym", deep),
        ("up", "sym", "top/../top"), ("chain", "sym", "up/" + "d" * 22)])
    upload.unpack(path, tmp_path / "tree", LIMITS)
    assert (tmp_path / "tree" / "top" / long_name).read_text() == "x"


def test_directories_a_name_makes_count_against_the_member_cap(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "a.tar.gz",
                         [(f"d{i}/a/b/f", "file", "") for i in range(10)])
    with pytest.raises(upload.ArchiveTooLarge, match="more than 20 files, links and "
                                                     "directories.*HOSTD_MAX_SOURCE_FILES"):
        upload.check_archive(path, upload.ArchiveLimits(max_files=10, max_bytes=2**20))


def test_a_check_and_an_unpack_stop_at_their_deadline(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "a.tar.gz", [("f", "file", "x")])
    late = upload.ArchiveLimits(max_files=10, max_bytes=2**20, timeout_s=0)
    with pytest.raises(upload.UnsafeArchive, match="longer than 0 s .*HOSTD_UPLOAD_TIMEOUT"):
        upload.check_archive(path, late)
    with pytest.raises(upload.UnsafeArchive, match="HOSTD_UPLOAD_TIMEOUT"):
        upload.unpack(path, tmp_path / "tree", late)
    assert not (tmp_path / "tree").exists()
    late = upload.ArchiveLimits(max_files=10, max_bytes=2**20, unpack_timeout_s=0)
    with pytest.raises(upload.UnsafeArchive, match="longer than 0 s .*HOSTD_BUILD_TIMEOUT"):
        upload.unpack(path, tmp_path / "tree", late)


def test_the_decompressed_stream_has_a_cap_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "zeros.gz"
    path.write_bytes(gzip.compress(bytes(10_000)))
    source = BoundedSource(path, cap=100, stream_cap=4096, deadline=time.monotonic() + 60)
    assert source.read(4096) == bytes(4096)
    with pytest.raises(OverCap, match="decompresses to more than"):
        source.read(1)
    source.close()
