"""The tree an uploaded archive makes, checked in time linear in its names.

Every path is a node of a trie, reached one component at a time (a dict lookup per
component, never a prefix string rebuilt per component): a member reached through a
link, or a link over a directory, is seen as the member is added. The links are
resolved at the end, each once (a link met inside another's target reuses its result),
as the kernel would: from the link's directory, through the archive's other links, in
any order. A target that climbs above the root, or loops, escapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostd.control.archive_stream import NAME_MAX_BYTES, Refused

DEPTH_MAX = 128  # components in a name or a link target
COMPONENT_MAX_BYTES = 255  # as the kernel's NAME_MAX
LINK_DEPTH_MAX = 40  # links resolved within links, as the kernel's MAXSYMLINKS
ROOT = 0
_BUSY = (-1, -1)  # a link being resolved: met again, it loops


class TooManyPaths(Refused):
    """More files, links and directories than the cap."""


@dataclass(frozen=True)
class Link:
    name: str
    target: str


def components(raw: str, what: str) -> list[str]:
    """`raw` split into its components without '' and '.', within the length and depth
    limits (in UTF-8 bytes, as the kernel counts); Refused (naming `what`) past them."""
    size = len(raw.encode("utf-8", "surrogateescape"))
    if size > NAME_MAX_BYTES:
        raise Refused(f"{what} is {size} bytes long, more than {NAME_MAX_BYTES}")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if len(parts) > DEPTH_MAX:
        raise Refused(f"{what} has {len(parts)} path components, more than {DEPTH_MAX}")
    longest = max(parts, key=len, default="")
    if len(longest.encode("utf-8", "surrogateescape")) > COMPONENT_MAX_BYTES:
        raise Refused(f"{what} has a component longer than {COMPONENT_MAX_BYTES} bytes")
    return parts


class Tree:
    def __init__(self, max_paths: int) -> None:
        self._max_paths = max_paths
        self._child: dict[tuple[int, str], int] = {}
        self._parent: list[int] = [ROOT]
        self._links: dict[int, Link] = {}
        self._dirs: set[int] = {ROOT}  # explicit directories and every node with children

    def add(self, name: str, parts: list[str], kind: str, target: str = "") -> None:
        """Add a member (`kind` "file", "dir" or "sym"); Refused when it is reached
        through a link, or is a link over a directory, or declares a link's name again."""
        node = ROOT
        for depth, part in enumerate(parts):
            node = self._node(node, part)
            if node in self._links:
                through = "/".join(parts[:depth + 1])
                if depth + 1 < len(parts):
                    raise Refused(f"member {name!r} is reached through the symbolic link "
                                  f"{through!r}: not allowed")
                raise Refused(f"member {name!r} is declared again after its link: "
                              "not allowed")
            if depth + 1 < len(parts):
                self._dirs.add(node)
        if kind == "dir":
            self._dirs.add(node)
        elif kind == "sym":
            if node in self._dirs:
                raise Refused(f"member {name!r} is both a directory and a link")
            self._links[node] = Link(name, target)

    def _node(self, parent: int, part: str) -> int:
        key = (parent, part)
        node = self._child.get(key)
        if node is None:
            if len(self._parent) > self._max_paths:
                raise TooManyPaths(f"the archive makes more than {self._max_paths} files, "
                                   "links and directories")
            node = self._child[key] = len(self._parent)
            self._parent.append(parent)
        return node

    def escaping_link(self) -> Link | None:
        """The first link whose target leads out of the tree (or loops), if any."""
        resolved: dict[int, tuple[int, int]] = {}
        for node, link in self._links.items():
            if self._resolve(node, resolved, 0) is None:
                return link
        return None

    def _resolve(self, link: int, resolved: dict[int, tuple[int, int]],
                 depth: int) -> tuple[int, int] | None:
        """Where `link` leads: (the deepest node of the archive on the way, how many
        components below it that the archive does not have), or None when it climbs above
        the root or loops. Memoised in `resolved`."""
        if link in resolved:
            known = resolved[link]
            return None if known == _BUSY else known
        if depth > LINK_DEPTH_MAX:
            return None
        resolved[link] = _BUSY
        here: tuple[int, int] | None = (self._parent[link], 0)
        for part in self._links[link].target.split("/"):
            if here is None:
                break
            here = self._step(here, part, resolved, depth)
        if here is not None:
            resolved[link] = here
        return here

    def _step(self, here: tuple[int, int], part: str, resolved: dict[int, tuple[int, int]],
              depth: int) -> tuple[int, int] | None:
        node, missing = here
        if part in ("", "."):
            return here
        if part == "..":
            if missing:
                return node, missing - 1
            return None if node == ROOT else (self._parent[node], 0)
        if missing:
            return node, missing + 1
        child = self._child.get((node, part))
        if child is None:
            return node, 1
        if child in self._links:
            return self._resolve(child, resolved, depth + 1)
        return child, 0
