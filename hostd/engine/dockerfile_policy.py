"""Which images a repository's own Dockerfile may build on, and what ADD may fetch.

The classic builder resolves ``FROM x`` and ``COPY --from=x`` by name, then by id
prefix over *every* local image: without this check one tenant builds on (and reads)
another's image. Allowed: hostd's own bases (any tag), ``scratch``, earlier stages of
the same file, and names matching the operator's globs (HOSTD_ALLOWED_IMAGES, matched
against the normalized reference). Refused always: image ids and id prefixes, hostd's
project images (``hostd-app/…``), invalid references, and ADD of a URL (the engine
would fetch it from the host's network).

:func:`check_dockerfile` is pure; :func:`refuse_project_images` asks the engine whether
an allowed name lands on an image hostd built for a project (defence in depth).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

import docker
import docker.errors
import dockerfile

from hostd.engine.client import translate_errors
from hostd.naming import IMAGE_REPOSITORY, PROJECT_LABEL
from hostd.source.bases import BASE_REPOSITORIES
from hostd.source.dockerfile_words import Refused, collect_arg, expand, parse_directive_escape
from hostd.source.imageref import BadReference, looks_like_image_id, parse_reference

SCRATCH = "scratch"
HOSTD_BASES = BASE_REPOSITORIES
_HOSTD_NAMES = frozenset(parse_reference(name).name for name in HOSTD_BASES)
_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SHOWN_MAX = 100


class DisallowedDockerfile(Exception):
    """The repository's Dockerfile is refused; the message says which line and why."""


@dataclass(frozen=True)
class ImageUse:
    """An allowed image reference: ``reference`` is the text the engine will resolve."""

    line: int
    shown: str
    reference: str


def check_dockerfile(text: str, allowed: Sequence[str]) -> None:
    """Raise DisallowedDockerfile unless every base, --from and ADD in ``text`` is allowed."""
    image_uses(text, allowed)


def check_repository_dockerfile(client: docker.DockerClient, text: str,
                                allowed: Sequence[str]) -> None:
    """The pure check, then the engine check of each allowed image it names."""
    refuse_project_images(client, image_uses(text, allowed))


def image_uses(text: str, allowed: Sequence[str]) -> list[ImageUse]:
    """The images ``text`` builds on (stages and scratch left out); raises
    DisallowedDockerfile for anything refused."""
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        raise DisallowedDockerfile(f"the Dockerfile could not be parsed: {exc}") from None
    _refuse_hidden_lines(text, commands)
    return _Checker(commands, tuple(allowed)).run()


def refuse_project_images(client: docker.DockerClient, uses: Sequence[ImageUse]) -> None:
    """Refuse a use whose reference resolves, on this engine, to a project's image."""
    for use in uses:
        labels = _local_image_labels(client, use.reference)
        if labels is not None and PROJECT_LABEL in labels:
            raise DisallowedDockerfile(_message(
                use.line, use.shown, "it resolves to an image hostd built for a project, "
                "which no repository may build on; name a public base image instead"))


def _local_image_labels(client: docker.DockerClient, reference: str) -> dict[str, str] | None:
    # inspect resolves a name exactly as the builder's GetImage does (name, then id prefix).
    with translate_errors(f"inspect image {reference}"):
        try:
            attrs = client.api.inspect_image(reference)
        except docker.errors.NotFound:
            return None
    return dict((attrs.get("Config") or {}).get("Labels") or {})


def _message(line: int, shown: str, reason: str) -> str:
    return f"Dockerfile line {line}: {shown} is refused: {reason}"


def _show(text: str) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= _SHOWN_MAX else clean[:_SHOWN_MAX] + "…"


def _refuse_hidden_lines(text: str, commands: Sequence[dockerfile.Command]) -> None:
    """Refuse lines the parser folded into a command without a line continuation.

    This engine's classic builder knows no heredocs: it would read a heredoc's body as
    instructions, which this check would otherwise never see. Lines are split, and
    continuations recognized, as the Go parser does (``\\n``; escape + spaces or tabs).
    """
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    continued = re.compile(re.escape(parse_directive_escape(lines)) + r"[ \t]*$")
    covered: set[int] = set()
    for command in commands:
        if command.heredocs:
            raise DisallowedDockerfile(_message(
                command.start_line, _show(command.original.split("\n", 1)[0]),
                "heredocs (<<) are not supported by this engine's builder"))
        covered.update(range(command.start_line, command.end_line + 1))
        for number in range(command.start_line, command.end_line):
            line = lines[number - 1] if number <= len(lines) else ""
            if not (_blank_or_comment(line) or continued.search(line)):
                raise DisallowedDockerfile(_message(
                    command.start_line, _show(lines[command.start_line - 1].strip()),
                    "it spans lines without a line continuation (a heredoc?), "
                    "which this engine's builder would read differently"))
    for number, line in enumerate(lines, start=1):
        if number not in covered and not _blank_or_comment(line):
            raise DisallowedDockerfile(_message(number, _show(line.strip()),
                                                "the parser skipped this line"))


def _blank_or_comment(line: str) -> bool:
    # Only spaces and tabs count as blank here: stricter than the parser, never looser.
    bare = line.lstrip("\ufeff").strip(" \t")
    return not bare or bare.startswith("#")


class _Checker:
    """Walks the commands once, tracking global ARGs and the stages built so far."""

    def __init__(self, commands: Sequence[dockerfile.Command], allowed: tuple[str, ...]) -> None:
        self.commands = commands
        self.allowed = allowed
        self.args: dict[str, str | Refused] = {}
        self.stages: list[str | None] = []  # names of stages begun, the current one last
        self.stage_lines = _stage_names(commands)
        self.uses: list[ImageUse] = []

    def run(self) -> list[ImageUse]:
        for command in self.commands:
            instruction = command.cmd.upper()
            if instruction == "ARG" and not self.stages:
                self._global_arg(command)
            elif instruction == "FROM":
                self._from(command)
            elif instruction == "ONBUILD":
                self._onbuild(command)
            else:
                self._copy_or_add(command, instruction, command, "")
        return self.uses

    def _refuse(self, line: int, shown: str, reason: str) -> DisallowedDockerfile:
        return DisallowedDockerfile(_message(line, _show(shown), reason))

    def _global_arg(self, command: dockerfile.Command) -> None:
        try:
            for item in command.value:
                collect_arg(item, command.start_line, self.args)
        except Refused as exc:
            raise self._refuse(command.start_line, command.original, str(exc)) from None

    def _from(self, command: dockerfile.Command) -> None:
        line, value = command.start_line, command.value
        shown = f"FROM {' '.join(value)}"
        if len(value) not in (1, 3) or (len(value) == 3 and value[1].upper() != "AS"):
            raise self._refuse(line, shown, "FROM takes an image and an optional `AS name`")
        name = value[2].lower() if len(value) == 3 else None
        if name is not None and not _STAGE_NAME.fullmatch(name):
            raise self._refuse(line, shown, f"{value[2]!r} is not a valid stage name")
        try:
            reference = expand(value[0], self.args)
        except Refused as exc:
            raise self._refuse(line, shown, str(exc)) from None
        if reference != value[0]:
            shown = f"FROM {value[0]} (= {reference})"
        earlier = {stage for stage in self.stages if stage}
        self.stages.append(name)
        if reference.lower() not in earlier:
            self._image(line, shown, reference)

    def _onbuild(self, command: dockerfile.Command) -> None:
        # The parser drops an ONBUILD trigger's flags: parse the trigger on its own.
        words = command.original.split(None, 1)
        trigger = words[1] if len(words) == 2 else ""
        try:
            parsed = dockerfile.parse_string(trigger)
        except dockerfile.GoParseError as exc:
            raise self._refuse(command.start_line, command.original,
                               f"its trigger could not be parsed: {exc}") from None
        for inner in parsed:
            self._copy_or_add(command, inner.cmd.upper(), inner, "ONBUILD ")

    def _copy_or_add(self, at: dockerfile.Command, instruction: str,
                     command: dockerfile.Command, prefix: str) -> None:
        if instruction not in ("COPY", "ADD"):
            return
        for flag in command.flags:
            key, _, source = flag.partition("=")
            if key.lower() == "--from":
                self._copy_from(at.start_line, f"{prefix}{instruction} {flag}", source)
        if instruction == "ADD":
            for source in command.value[:-1]:
                self._add_source(at.start_line, f"{prefix}ADD {source}", source)

    def _copy_from(self, line: int, shown: str, source: str) -> None:
        # This engine's classic builder does not expand variables in --from: it would
        # look up the literal text. Refused, so no later engine can read it differently.
        if "$" in source:
            raise self._refuse(line, shown, "variables are not expanded in --from; "
                               "write the stage name or image itself")
        earlier = self.stages[:-1]
        if source.lower() in {stage for stage in earlier if stage}:
            return
        if source.isdigit():
            if int(source) < len(earlier):
                return
            raise self._refuse(line, shown, f"stage index {source} does not name an earlier "
                               f"stage (this file has {len(earlier)} before this line)")
        self._image(line, shown, source)

    def _add_source(self, line: int, shown: str, source: str) -> None:
        if "$" in source:
            raise self._refuse(line, shown, "ADD sources may not use variables (hostd "
                               "cannot tell whether they make a URL); use COPY for files")
        plain = re.sub(r"[\"'\\`]", "", source)
        if _URL.match(plain) or plain.lower().startswith("git@"):
            raise self._refuse(line, shown, "the engine would fetch it from the host's "
                               "network; download it in a RUN step instead")

    def _image(self, line: int, shown: str, reference: str) -> None:
        """Refuse ``reference`` (already known not to be an earlier stage) unless allowed."""
        later = self.stage_lines.get(reference.lower())
        if later is not None:
            raise self._refuse(line, shown, f"it names the stage {reference.lower()!r} "
                               f"(line {later}), which is not built yet here: the engine "
                               "would look it up as an image; define the stage earlier")
        if reference == SCRATCH:
            return
        reason = self._image_problem(reference)
        if reason is not None:
            raise self._refuse(line, shown, f"{reason}; {self._hint()}")
        self.uses.append(ImageUse(line=line, shown=_show(shown), reference=reference))

    def _image_problem(self, reference: str) -> str | None:
        if looks_like_image_id(reference):
            return "image ids are not allowed"
        try:
            parsed = parse_reference(reference)
        except BadReference as exc:
            return f"it is not a valid image reference ({exc})"
        if IMAGE_REPOSITORY in parsed.path.split("/"):
            return (f"it names an image hostd built for a project ({IMAGE_REPOSITORY}/…), "
                    "which no repository may build on")
        if parsed.name in _HOSTD_NAMES:
            return None
        if any(fnmatch.fnmatchcase(parsed.full, glob) or fnmatch.fnmatchcase(parsed.name, glob)
               for glob in self.allowed):
            return None
        return f"{parsed.full} is not an allowed base image"

    def _hint(self) -> str:
        others = (f"one allowed by HOSTD_ALLOWED_IMAGES: {', '.join(self.allowed)}"
                  if self.allowed else "HOSTD_ALLOWED_IMAGES allows no others")
        return f"name a base image (hostd's own {', '.join(HOSTD_BASES)}, or {others})"


def _stage_names(commands: Sequence[dockerfile.Command]) -> dict[str, int]:
    """Every stage name in the file -> the line that defines it."""
    names: dict[str, int] = {}
    for command in commands:
        value = command.value
        if command.cmd.upper() == "FROM" and len(value) == 3 and value[1].upper() == "AS":
            names.setdefault(value[2].lower(), command.start_line)
    return names
