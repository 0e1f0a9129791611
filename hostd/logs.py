"""hostd's log lines: one handler per process, whose formatter escapes control characters.

Anyone with a free account writes text that reaches the log: a request path, a Host
header, a repository URL, a command to run, what git or a build printed. A line feed in
it would forge a log line of its own; an escape sequence would drive the terminal of the
operator reading the log. So every line is written by `LineFormatter`, which escapes C0
and C1 controls and Unicode's line and paragraph separators: a line feed becomes `\\n`,
ESC `\\x1b`, U+2028 `\\u2028` (a backslash stays as it is). A record stays one line.

A traceback is hostd's own text and keeps its lines, with two exceptions: what an
exception says (its message and notes, which may quote a user's text) is escaped as a
message is, and no other control character than its line feeds remains.

`configure` installs the handler on the root logger, in the daemon (`hostd serve`, where
uvicorn's loggers propagate to it too) and in each router worker process.
"""

from __future__ import annotations

import logging
import re
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NOT_LINE_FEEDS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape(text: str) -> str:
    """`text` on one line, every control character written out (`\\n`, `\\x1b`…)."""
    if text.isprintable():  # the usual line: no control in it, found out at C speed
        return text
    return _CONTROLS.sub(_escaped, text)


def _what_exceptions_say(exc: BaseException | None) -> list[str]:
    """The messages and notes of `exc` and the exceptions chained to it or grouped in it
    that hold a control character (those are the ones escaping changes)."""
    said: list[str] = []
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        try:
            texts = [str(current), *getattr(current, "__notes__", ())]
        except Exception:  # a broken __str__: the traceback module says so itself
            texts = []
        # Blank ones left alone: replacing "\n" would put the whole traceback on one line.
        said += [t for t in texts if isinstance(t, str) and t.strip() and _CONTROLS.search(t)]
        todo += [current.__cause__, current.__context__, *getattr(current, "exceptions", ())]
    return said


class LineFormatter(logging.Formatter):
    """`logging.Formatter`, with each record's line escaped (see the module docstring)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape(super().formatMessage(record))

    def formatException(self, ei: ExcInfo) -> str:
        text = super().formatException(ei)
        for said in _what_exceptions_say(ei[1]):
            text = text.replace(said, escape(said))
        return _NOT_LINE_FEEDS.sub(_escaped, text)

    def formatStack(self, stack_info: str) -> str:
        return _NOT_LINE_FEEDS.sub(_escaped, stack_info)


def configure(level: str) -> None:
    """The process's log: one handler on stderr for every logger, lines escaped."""
    handler = logging.StreamHandler()
    handler.setFormatter(LineFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
