"""The Dockerfile base-image policy: a table of pure cases, the templates, the engine check."""

from __future__ import annotations

import docker.errors
import pytest

from hostd.engine.dockerfile_policy import (
    DisallowedDockerfile,
    check_dockerfile,
    check_repository_dockerfile,
    image_uses,
)
from hostd.engine.images import OFFICIAL_IMAGES
from hostd.source.imageref import parse_reference
from hostd.source.templates import BaseImages, show_template, template_names

DEFAULT = ("docker.io/library/*",)
ID12 = "3f2a1c9e8b7d"
ID64 = "3f2a1c9e8b7d" + "0" * 52
BB = "FROM hostd/busybox:1\n"

ALLOWED = [
    ("hostd base", "FROM hostd/busybox:1\n", DEFAULT),
    ("hostd base, any tag, no globs", "FROM hostd/python:3.11\nFROM hostd/node:99\n", ()),
    ("official short name", "FROM node:22-slim\n", DEFAULT),
    ("official full name", "FROM docker.io/library/node:22\n", DEFAULT),
    ("library/ prefix", "FROM library/node\n", DEFAULT),
    ("scratch", "FROM scratch\nCOPY a /a\n", ()),
    ("stage names, any case", BB + "RUN x\nFROM hostd/busybox:1 AS Build\nFROM build\n", ()),
    ("--from by index", BB + "FROM hostd/busybox:1\nCOPY --from=0 /a /b\n", ()),
    ("--from by name", "FROM hostd/busybox:1 AS build\nFROM scratch\n"
                       "COPY --from=BUILD /a /b\n", ()),
    ("ARG-expanded name", "ARG BASE=node\nARG TAG=22\nFROM $BASE:${TAG}-slim\n", DEFAULT),
    ("ARG chain, quoted default", 'ARG V="22"\nARG B=node:$V\nFROM ${B}\n', DEFAULT),
    ("operator glob", "FROM ghcr.io/acme/app:1\n", ("ghcr.io/acme/*",)),
    ("tagless glob means any tag", "FROM ghcr.io/acme/app:7\n", ("ghcr.io/acme/app",)),
    ("ADD of a local file", BB + "ADD app.tar.gz /srv/\n", ()),
    ("continued lines", BB + "RUN echo a \\\n  # a comment\n  && echo b\n", ()),
    ("CRLF line ends", "FROM hostd/busybox:1\r\nRUN a \\\r\n  b\r\n", ()),
    ("escape directive", "# escape=`\nFROM hostd/busybox:1\nRUN a `\n  b\n", ()),
]

REFUSED = [
    ("12-hex id prefix", BB + f"FROM {ID12}\n", DEFAULT, 2, "image ids"),
    ("short id prefix", "FROM ca42\n", DEFAULT, 1, "image ids"),
    ("64-hex id", f"\nFROM {ID64}\n", DEFAULT, 2, "image ids"),
    ("sha256 id", f"FROM sha256:{ID12}\n", DEFAULT, 1, "image ids"),
    ("hostd-app tag", "FROM hostd-app/x:y\n", DEFAULT, 1, "hostd-app"),
    ("hostd-app, full form", "FROM docker.io/hostd-app/x\n", ("*",), 1, "hostd-app"),
    ("hostd-app under glob *", BB + "COPY --from=hostd-app/p:1 / /x\n", ("*",), 2,
     "hostd-app"),
    ("registry without glob", "FROM localhost:5000/x\n", DEFAULT, 1, "not an allowed"),
    ("other registry", "FROM ghcr.io/evil/x\n", ("ghcr.io/acme/*",), 1, "not an allowed"),
    ("uppercase", "FROM Node:22\n", DEFAULT, 1, "lowercase"),
    ("no globs: official refused", "FROM node:22\n", (), 1, "not an allowed"),
    ("ARG default smuggles an id", f"ARG B={ID12}\nFROM $B\n", DEFAULT, 2, "image ids"),
    ("modifier form", f"FROM ${{X:-{ID12}}}\n", DEFAULT, 1, "${X:-default}"),
    ("undefined ARG", "FROM $NOPE\n", DEFAULT, 1, "not defined"),
    ("ARG without default", "ARG B\nFROM ${B}\n", DEFAULT, 2, "no value"),
    ("ARG inside a stage", BB + f"ARG B={ID12}\nFROM $B\n", DEFAULT, 3, "not defined"),
    ("ARG default with modifier", f"ARG B=${{X:-{ID12}}}\nFROM $B\n", DEFAULT, 2,
     "not usable"),
    ("quotes inside a word", 'FROM "no"de\n', DEFAULT, 1, "quotes"),
    ("FROM a later stage", "FROM build\nFROM hostd/busybox:1 AS build\n", DEFAULT, 1,
     "not built yet"),
    ("FROM its own stage name", "FROM node AS node\n", DEFAULT, 1, "not built yet"),
    ("COPY --from=<id>", BB + f"COPY --from={ID12} / /x\n", DEFAULT, 2, "image ids"),
    ("COPY --from=5, too few stages", BB + "FROM hostd/busybox:1\nCOPY --from=5 /a /b\n",
     DEFAULT, 3, "stage index 5"),
    ("COPY --from=<current stage index>", BB + "COPY --from=0 /a /b\n", DEFAULT, 2,
     "stage index 0"),
    ("COPY --from with a variable", f"ARG X={ID12}\n" + BB + "COPY --from=$X /a /b\n",
     DEFAULT, 3, "variables"),
    ("ONBUILD COPY --from=<id>", BB + f"ONBUILD COPY --from={ID12} / /x\n", DEFAULT, 2,
     "image ids"),
    ("ADD https", BB + "ADD https://example.com/x.tgz /x\n", DEFAULT, 2, "RUN step"),
    ("ADD metadata url, json form", BB + 'ADD ["http://169.254.169.254/", "/m"]\n',
     DEFAULT, 2, "host's network"),
    ("ADD git@", BB + "ADD git@github.com:a/b.git /b\n", DEFAULT, 2, "host's network"),
    ("ADD any scheme", BB + "RUN true\nADD ftp://x/y /y\n", DEFAULT, 3, "host's network"),
    ("ADD quoted url", BB + 'ADD "http://x/" /y\n', DEFAULT, 2, "host's network"),
    ("ADD with a variable", BB + "ARG U=http://x/\nADD $U /y\n", DEFAULT, 3, "variables"),
    ("ONBUILD ADD url", BB + "ONBUILD ADD http://x/ /y\n", DEFAULT, 2, "host's network"),
    ("heredoc", BB + "RUN <<EOF\necho\nEOF\n", DEFAULT, 2, "heredoc"),
    ("heredoc hidden in ONBUILD", BB + f"ONBUILD RUN <<EOF\nFROM {ID12}\nEOF\n", DEFAULT, 2,
     "without a line continuation"),
    ("ONBUILD with a tab", BB + f"ONBUILD\tCOPY --from={ID12} / /x\n", DEFAULT, 2,
     "image ids"),
    ("form feed is no continuation", BB + f"ONBUILD RUN <<EOF \\\f\nFROM {ID12} \\\f\nEOF\n",
     DEFAULT, 2, "without a line continuation"),
    ("FROM with two words", "FROM a b\n", DEFAULT, 1, "AS name"),
]


@pytest.mark.parametrize(("text", "allowed"), [case[1:] for case in ALLOWED],
                         ids=[case[0] for case in ALLOWED])
def test_allowed(text: str, allowed: tuple[str, ...]) -> None:
    check_dockerfile(text, allowed)


@pytest.mark.parametrize(("text", "allowed", "line", "why"), [case[1:] for case in REFUSED],
                         ids=[case[0] for case in REFUSED])
def test_refused(text: str, allowed: tuple[str, ...], line: int, why: str) -> None:
    with pytest.raises(DisallowedDockerfile) as caught:
        check_dockerfile(text, allowed)
    message = str(caught.value)
    assert message.startswith(f"Dockerfile line {line}: "), message
    assert why in message


def test_message_says_what_to_do() -> None:
    with pytest.raises(DisallowedDockerfile) as caught:
        check_dockerfile("FROM scratch\nRUN x\nRUN y\n" + f"FROM {ID12}\n", DEFAULT)
    assert str(caught.value) == (
        f"Dockerfile line 4: FROM {ID12} is refused: image ids are not allowed; name a base "
        "image (hostd's own hostd/busybox, hostd/debian, hostd/nginx, hostd/python, "
        "hostd/node, or one allowed by HOSTD_ALLOWED_IMAGES: docker.io/library/*)")


def test_unparsable_file_is_refused() -> None:
    with pytest.raises(DisallowedDockerfile, match="could not be parsed"):
        check_dockerfile("# escape=x\nFROM scratch\n", DEFAULT)


def test_image_uses_name_what_the_engine_resolves() -> None:
    text = ("ARG B=node:22\nFROM $B AS build\nFROM hostd/busybox:1\n"
            "COPY --from=build /a /a\nCOPY --from=python:3.12 /b /b\n")
    uses = [(use.line, use.reference) for use in image_uses(text, DEFAULT)]
    assert uses == [(2, "node:22"), (3, "hostd/busybox:1"), (5, "python:3.12")]


def test_normalization() -> None:
    assert parse_reference("node").full == "docker.io/library/node:latest"
    assert parse_reference("index.docker.io/x/y:1").full == "docker.io/x/y:1"
    assert parse_reference("localhost/x").name == "localhost/x"
    assert parse_reference("localhost:5000/x:2").full == "localhost:5000/x:2"


@pytest.mark.parametrize("name", template_names())
def test_every_template_passes(name: str) -> None:
    check_dockerfile(show_template(name), DEFAULT)
    check_dockerfile(show_template(name), ())


@pytest.mark.parametrize("name", template_names())
def test_every_template_passes_on_official_bases(name: str) -> None:
    # No official node role any more (hostd's lines are its own); node:24-slim still passes.
    bases = BaseImages(python=OFFICIAL_IMAGES["python"], node="node:24-slim",
                       nginx="hostd/nginx:1-test")
    check_dockerfile(show_template(name, bases), DEFAULT)


class FakeApi:
    """inspect_image as the engine answers it: a project's image under one name."""

    def __init__(self, images: dict[str, dict[str, str]]) -> None:
        self.images = images
        self.asked: list[str] = []

    def inspect_image(self, reference: str) -> dict:
        self.asked.append(reference)
        if reference not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {reference}")
        return {"Config": {"Labels": self.images[reference]}}


class FakeClient:
    def __init__(self, api: FakeApi) -> None:
        self.api = api


def test_an_allowed_name_on_a_project_image_is_refused() -> None:
    api = FakeApi({"node:22": {"hostd.project": "p1"}, "hostd/busybox:1": {"hostd.base": "1"}})
    text = "FROM hostd/busybox:1 AS a\nFROM scratch\nCOPY --from=a /x /x\nFROM node:22\n"
    with pytest.raises(DisallowedDockerfile) as caught:
        check_repository_dockerfile(FakeClient(api), text, DEFAULT)  # type: ignore[arg-type]
    assert str(caught.value).startswith("Dockerfile line 4: FROM node:22 is refused: it "
                                        "resolves to an image hostd built for a project")
    assert api.asked == ["hostd/busybox:1", "node:22"]  # stages and scratch not asked


def test_names_not_on_the_engine_pass() -> None:
    check_repository_dockerfile(FakeClient(FakeApi({})), "FROM python:3.12\n",  # type: ignore[arg-type]
                                DEFAULT)
