"""Image references as the engine reads them (distribution/reference normalization).

``node:22-slim`` is ``docker.io/library/node:22-slim``: a first component holding ``.``
or ``:``, or equal to ``localhost``, is a registry domain; otherwise the domain is
docker.io, and a single-component docker.io name gets ``library/``. Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
MAX_NAME_LENGTH = 255
DIGEST_ALGORITHMS = frozenset({"sha256", "sha384", "sha512"})

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_HEX = re.compile(r"[0-9a-f]+")


class BadReference(ValueError):
    """Not a valid image reference; the message says why."""


@dataclass(frozen=True)
class ImageRef:
    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def full(self) -> str:
        """The normalized reference; ``:latest`` when neither tag nor digest is given."""
        tag = self.tag or (None if self.digest else "latest")
        return self.name + (f":{tag}" if tag else "") + (f"@{self.digest}" if self.digest else "")


def name_part(text: str) -> str:
    """``text`` without its ``@digest`` and ``:tag`` (a ``:`` after the last ``/``)."""
    name = text.split("@", 1)[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def looks_like_image_id(text: str) -> bool:
    """True when the engine's id-prefix search could take ``text`` as an image id.

    The engine tries a named lookup, then any local image whose id starts with the text:
    so every all-hex name is an id prefix, and so is ``sha256:<hex prefix>``.
    """
    name = name_part(text)
    return bool(_HEX.fullmatch(name)) or name in DIGEST_ALGORITHMS


def parse_reference(text: str) -> ImageRef:
    """Parse and normalize ``text``; raises BadReference."""
    if not text:
        raise BadReference("it is empty")
    remainder, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise BadReference("its digest is malformed")
    name = name_part(remainder)
    tag = remainder[len(name) + 1:] if len(remainder) > len(name) else None
    if tag is not None and not _TAG.fullmatch(tag):
        raise BadReference("its tag is malformed")
    if len(name) > MAX_NAME_LENGTH:
        raise BadReference(f"its name is longer than {MAX_NAME_LENGTH} characters")
    domain, path = _split_domain(name)
    if path != path.lower():
        raise BadReference("repository names must be lowercase")
    if not all(_PATH_COMPONENT.fullmatch(part) for part in path.split("/")):
        raise BadReference("its repository name is malformed")
    return ImageRef(domain=domain, path=path, tag=tag, digest=digest or None)


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost"
                  or first != first.lower()):
        if not _DOMAIN.fullmatch(first):
            raise BadReference("its registry domain is malformed")
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return domain, path
