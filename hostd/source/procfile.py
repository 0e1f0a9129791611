"""A repository's Procfile, read as Dokku reads it: process types and their commands.

The rules are those of Dokku's own reader, procfile-util (dokku/procfile-util,
`procfile/parse.go` `ParseProcfile`, non-strict mode — the one Dokku deploys with), over
Heroku's format (devcenter.heroku.com/articles/procfile: `<process type>: <command>`):

* one `name: command` per line, the name `[A-Za-z0-9_-]+` of at most 63 characters;
  each line is trimmed; blank lines and lines beginning with `#` or `//` are comments;
* an inline comment is cut as procfile-util cuts it: from the last whitespace followed by
  `#` (else by `//`) to the end of the line — so `echo "a #b"` loses ` #b"` there too;
  a command that is only a comment, or empty, is an error;
* any other line is an error (`invalid line`), as is a name given twice (procfile-util:
  "process names must be unique") and a file with no entry at all;
* CRLF line ends are fine (each line is trimmed). procfile-util sorts the entries by
  name; hostd keeps the file's order (nothing depends on it).

hostd adds, because the file is written by whoever owns the repository: it is read only
through a Checkout (a regular file, never through a link, its size counted first, at most
64 KiB — procfile-util's own line limit is bufio's 64 KiB), it must be UTF-8 and hold no
NUL. A command is only ever stored and later given to `sh -c` inside the app's own
container; nothing here runs it.

`release` is not a process type but the release phase (hostd.control.release_phase).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hostd.source.checkout import Checkout, UnsafeCheckout

PROCFILE = "Procfile"
PROCFILE_CAP_BYTES = 64 * 1024
NAME_MAX = 63
RELEASE = "release"
WEB = "web"
_ENTRY = re.compile(r"([A-Za-z0-9_-]+):\s*(.+)")
_HASH_COMMENT = re.compile(r"(.*)\s#.+")
_SLASH_COMMENT = re.compile(r"(.*)\s//.+")


class ProcfileError(UnsafeCheckout):
    """A Procfile hostd can't read as one; the message (the deploy's reason) names the line.
    An UnsafeCheckout, so every place that turns those into a deploy's reason takes it."""


@dataclass(frozen=True)
class Procfile:
    entries: dict[str, str] = field(default_factory=dict)  # in the file's order

    @property
    def processes(self) -> dict[str, str]:
        """The process types (every entry but `release`) and their commands."""
        return {name: command for name, command in self.entries.items() if name != RELEASE}

    @property
    def release(self) -> str | None:
        return self.entries.get(RELEASE)


def read(repo: Checkout) -> Procfile | None:
    """The repository's Procfile, None when it has none. Raises UnsafeCheckout (a link, not
    a regular file, too big) or ProcfileError."""
    data = repo.read_bytes(PROCFILE, PROCFILE_CAP_BYTES)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProcfileError("the Procfile is not UTF-8 text") from None
    return parse(text)


def parse(text: str) -> Procfile:
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "//")):
            continue
        if "\0" in line:
            raise ProcfileError(f"Procfile line {number} holds a NUL byte")
        name, command = _entry(line, number)
        if name in entries:
            raise ProcfileError(f"Procfile line {number}: process names must be unique "
                                f"({name!r} is given twice)")
        entries[name] = command
    if not entries:
        raise ProcfileError("the Procfile has no `name: command` line")
    return Procfile(entries)


def _entry(line: str, number: int) -> tuple[str, str]:
    match = _ENTRY.fullmatch(line)
    if match is None:
        raise ProcfileError(f"Procfile line {number} is not `name: command` (names are "
                            "letters, digits, `_` and `-`)")
    name, command = match.group(1), match.group(2)
    if len(name) > NAME_MAX:
        raise ProcfileError(f"Procfile line {number}: a process name has at most "
                            f"{NAME_MAX} characters")
    comment = _HASH_COMMENT.fullmatch(command) or _SLASH_COMMENT.fullmatch(command)
    if comment is not None:
        command = comment.group(1)
    command = command.strip()
    if command.startswith(("#", "//")):
        raise ProcfileError(f"Procfile line {number}: a comment in place of the command")
    if not command:
        raise ProcfileError(f"Procfile line {number}: no command")
    return name, command
