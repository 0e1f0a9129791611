"""The Procfile as Dokku's procfile-util reads it (hostd.source.procfile), and what hostd
adds because the file is the repository owner's: links, size, NULs, encodings."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hostd.source.checkout import Checkout, UnsafeCheckout
from hostd.source.procfile import PROCFILE_CAP_BYTES, ProcfileError, parse, read
from tests.source.trees import linked_out

DOKKU_STYLE = """\
# the sample app's processes
web: gunicorn app:app --bind 0.0.0.0:$PORT
worker: python worker.py  # the queue
custom-job_2: ./bin/custom // slash comment
// a whole-line slash comment

release: python manage.py migrate
"""


def test_every_line_but_release_is_a_process_type_in_the_files_order() -> None:
    procfile = parse(DOKKU_STYLE)
    assert procfile.processes == {"web": "gunicorn app:app --bind 0.0.0.0:$PORT",
                                  "worker": "python worker.py",
                                  "custom-job_2": "./bin/custom"}
    assert list(procfile.processes) == ["web", "worker", "custom-job_2"]
    assert procfile.release == "python manage.py migrate"


def test_crlf_and_surrounding_whitespace_are_trimmed() -> None:
    procfile = parse("  web:   ./serve --port $PORT  \r\nworker:./work\r\n")
    assert procfile.processes == {"web": "./serve --port $PORT", "worker": "./work"}
    assert procfile.release is None


def test_an_inline_comment_is_cut_from_the_last_space_hash_as_procfile_util_does() -> None:
    # procfile-util's `^(.*)\s#.+$`: greedy, so only the last ` #…` goes; a `#` with no
    # space before it is part of the command.
    assert parse("web: echo a#b #c #d\n").processes == {"web": "echo a#b #c"}
    assert parse("web: curl http://x/#frag\n").processes == {"web": "curl http://x/#frag"}


@pytest.mark.parametrize(("text", "says"), [
    ("web gunicorn app:app\n", "line 1 is not `name: command`"),
    ("web: ok\nwe b: ./x\n", "line 2 is not"),
    ("wéb: ./x\n", "line 1 is not"),
    ("web:\n", "line 1 is not"),
    ("web: # only a comment\n", "a comment in place of the command"),
    ("web: ./a\nweb: ./b\n", "process names must be unique"),
    (f"{'a' * 64}: ./x\n", "at most 63 characters"),
    ("# nothing but comments\n\n", "no `name: command` line"),
    ("", "no `name: command` line"),
    ("web: ./serve\0 --evil\n", "NUL"),
])
def test_a_malformed_procfile_is_refused_naming_the_line(text: str, says: str) -> None:
    with pytest.raises(ProcfileError, match=re.escape(says)):
        parse(text)


def _repo(tmp_path: Path, content: bytes) -> Checkout:
    (tmp_path / "Procfile").write_bytes(content)
    return Checkout(tmp_path)


def test_a_repository_without_a_procfile_has_none(tmp_path: Path) -> None:
    assert read(Checkout(tmp_path)) is None


def test_a_procfile_is_read_from_the_checkout(tmp_path: Path) -> None:
    procfile = read(_repo(tmp_path, b"web: ./serve\nworker: ./work\n"))
    assert procfile is not None and procfile.processes == {"web": "./serve", "worker": "./work"}


def test_a_huge_procfile_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    line = b"web: " + b"x" * PROCFILE_CAP_BYTES + b"\n"
    with pytest.raises(UnsafeCheckout, match="larger than 64 KiB"):
        read(_repo(tmp_path, line))


def test_a_non_utf8_procfile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProcfileError, match="not UTF-8"):
        read(_repo(tmp_path, b"web: ./serve \xff\xfe\n"))


def test_a_procfile_that_is_a_link_is_never_followed(tmp_path: Path) -> None:
    repo = linked_out(tmp_path, "Procfile", "web: cat /etc/shadow\n")
    with pytest.raises(UnsafeCheckout, match="symbolic link"):
        read(repo)


def test_a_procfile_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "Procfile")
    with pytest.raises(UnsafeCheckout, match="not a regular file"):
        read(Checkout(tmp_path))
