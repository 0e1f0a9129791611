"""Variable expansion in FROM, as the classic builder does it, for the subset hostd allows.

hostd sends no build args, so the only values are the defaults of the global ARGs (those
before the first FROM); each default is itself expanded with the ARGs before it, and a
later ARG of the same name wins. Only ``$NAME`` and ``${NAME}`` are understood, in a word
that is plain or wholly quoted: modifier forms (``${X:-y}``), inner quotes and escapes
are refused rather than imitated, so no value can mean one thing here and another to the
engine. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*")
_QUOTES_AND_ESCAPES = "'\"\\`"


class Refused(Exception):
    """A word hostd will not expand; the message says why, for a person."""


def parse_directive_escape(lines: Sequence[str]) -> str:
    """The escape character set by a ``# escape=`` parser directive, else backslash."""
    for raw in lines:
        match = _DIRECTIVE.fullmatch(raw.strip().lstrip("\ufeff"))
        if match is None:
            break
        if match.group(1).lower() == "escape":
            return match.group(2)
    return "\\"


def collect_arg(item: str, line: int, args: MutableMapping[str, str | Refused]) -> None:
    """Record one global ``ARG`` item (``NAME`` or ``NAME=default``) in ``args``.

    A default that cannot be expanded is kept as its Refused, raised only if used.
    """
    key, has_value, value = item.partition("=")
    if not _NAME.fullmatch(key):
        raise Refused(f"ARG name {key!r} is not plain (letters, digits and _ only)")
    if not has_value:
        args[key] = Refused(f"${key} has no value: hostd passes no build args, so give "
                            f"ARG {key} a default (line {line})")
        return
    try:
        args[key] = expand(value, args)
    except Refused as exc:
        args[key] = Refused(f"the default of ARG {key} (line {line}) is not usable: {exc}")


def expand(word: str, args: Mapping[str, str | Refused]) -> str:
    """``word`` with ``$NAME``/``${NAME}`` replaced from ``args``; raises Refused."""
    if not word.isascii():
        raise Refused("only ASCII characters are allowed here")
    quote = ""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        quote, word = word[0], word[1:-1]
    if any(char in word for char in _QUOTES_AND_ESCAPES):
        raise Refused("quotes and escape characters are not allowed here; write it plainly")
    if quote == "'":
        return word  # single quotes: taken literally, as the shell would
    parts: list[str] = []
    position = 0
    while (dollar := word.find("$", position)) >= 0:
        parts.append(word[position:dollar])
        match = _VARIABLE.match(word, dollar)
        if match is None:
            if word.startswith("${", dollar):
                raise Refused("variable forms like ${X:-default} are not allowed; "
                              "give the global ARG a default instead")
            raise Refused("a $ must start $NAME or ${NAME}")
        parts.append(_value(match.group(1) or match.group(2), args))
        position = match.end()
    parts.append(word[position:])
    return "".join(parts)


def _value(name: str, args: Mapping[str, str | Refused]) -> str:
    value = args.get(name)
    if value is None:
        raise Refused(f"${name} is not defined: hostd passes no build args, so only "
                      "ARGs with a default before the first FROM can be used here")
    if isinstance(value, Refused):
        raise value
    return value
