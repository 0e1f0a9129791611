"""Shape rules for what users send: emails, names, passwords, repository URLs, handles.

Pure functions, used by the request models; each raises ValueError with a message
a person can act on.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

EMAIL_MAX = 254
PASSWORD_MIN = 6
PASSWORD_MAX_BYTES = 72  # bcrypt ignores everything past 72 bytes
NAME_MAX = 100
PROJECT_NAME_MAX = 40
HANDLE_MAX = 30
URL_MAX = 2048
# `hostd.localhost` is the dashboard's name (hostd.config.DASHBOARD_NAME): a handle
# `hostd` would put apps at `*.hostd.localhost`, the dashboard's own site.
RESERVED_HANDLES = frozenset({"hostd"})

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PROJECT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# A remote URL: scheme, optional userinfo, host (a name or a bracketed IPv6), port, path.
_REMOTE_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:(?P<userinfo>[A-Za-z0-9._~%!*+,=:-]+)@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(?::(?P<port>\d{1,5}))?"
    r"(?P<path>/.*)$"
)
_SCP_URL = re.compile(
    r"^(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(?!//)(?P<path>.+)$"
)
# Nothing a shell (or a careless script quoting a URL) would act on, and no whitespace.
URL_METACHARACTERS = frozenset(";|&$`<>()\\'\"")
DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22}
_REMOTE_FORMS = "https://host/owner/repo, ssh://git@host/owner/repo, or git@host:owner/repo"


@dataclass(frozen=True)
class RepoUrl:
    """A remote repository URL taken apart; `user`/`password` are percent-decoded."""

    scheme: str  # https, http or ssh (scp-like git@host:path is ssh)
    host: str  # a name, or an IP address without brackets
    port: int | None
    path: str
    user: str | None = None
    password: str | None = None
    scp: bool = False

    @property
    def connect_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.scheme]

    @property
    def netloc_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def origin(self) -> str:
        """`scheme://host[:port]` with no credentials."""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{self.netloc_host}{port}"

    def has_credentials(self) -> bool:
        return self.scheme in ("https", "http") and self.user is not None

    def without_credentials(self) -> str:
        """What git is given: https/http userinfo removed; ssh's user kept (not a secret)."""
        if self.scp:
            return f"{self.user}@{self.netloc_host}:{self.path}"
        if self.scheme == "ssh" and self.user:
            return f"ssh://{quote(self.user, safe='')}@{self.netloc_host}" + (
                f":{self.port}" if self.port else "") + self.path
        return self.origin() + self.path


def parse_repo_url(url: str) -> RepoUrl | None:
    """A remote URL's parts, or None when `url` is not one (a local path, or garbage)."""
    if scp := _SCP_URL.match(url):
        host = _host(scp["host"])
        return None if host is None else RepoUrl("ssh", host, None, scp["path"],
                                                 user=scp["user"], scp=True)
    match = _REMOTE_URL.match(url)
    host = _host(match["host"]) if match else None
    if not match or host is None or match["scheme"].lower() not in DEFAULT_PORTS:
        return None
    user = password = None
    if match["userinfo"] is not None:
        raw_user, sep, raw_password = match["userinfo"].partition(":")
        user, password = unquote(raw_user), (unquote(raw_password) if sep else None)
    port = int(match["port"]) if match["port"] else None
    return RepoUrl(match["scheme"].lower(), host, port, match["path"],
                   user=user, password=password)


def _host(raw: str) -> str | None:
    """A host name as is; a bracketed IPv6 address without its brackets, if it is one."""
    if not raw.startswith("["):
        return raw
    try:
        return str(ipaddress.IPv6Address(raw[1:-1]))
    except ValueError:
        return None


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") for ch in value)


def normalize_email(value: str) -> str:
    email = unicodedata.normalize("NFC", value).strip().lower()
    if not email:
        raise ValueError("is required")
    if len(email) > EMAIL_MAX:
        raise ValueError(f"must be at most {EMAIL_MAX} characters")
    if _has_control(email) or not _EMAIL.match(email):
        raise ValueError("must be an email address like alice@example.com")
    return email


def normalize_person_name(value: str) -> str:
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name:
        raise ValueError("must not be empty")
    if len(name) > NAME_MAX:
        raise ValueError(f"must be at most {NAME_MAX} characters")
    if _has_control(name):
        raise ValueError("must not contain control characters")
    return name


def check_password(value: str) -> str:
    size = len(value.encode("utf-8"))
    if len(value) < PASSWORD_MIN:
        raise ValueError(f"must be at least {PASSWORD_MIN} characters")
    if size > PASSWORD_MAX_BYTES:
        raise ValueError(
            f"must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8 (bcrypt's limit); "
            f"this one is {size}"
        )
    return value


def check_project_name(value: str) -> str:
    if not _PROJECT_NAME.fullmatch(value):
        raise ValueError(
            "must be a DNS label: 1 to 40 characters of lowercase a-z, 0-9 and '-', "
            "not starting or ending with '-'"
        )
    return value


HEALTH_PATH_MAX = 200


def check_health_path(value: str) -> str:
    """The path hostd GETs to see a new container is healthy: it goes into a request line."""
    if (not value.startswith("/") or len(value) > HEALTH_PATH_MAX or not value.isascii()
            or any(ch.isspace() for ch in value) or _has_control(value)):
        raise ValueError(f"must be a path starting with '/': at most {HEALTH_PATH_MAX} "
                         "printable ASCII characters, no spaces")
    return value


def check_repo_url(value: str, *, allow_local: bool, allow_private: bool = False) -> str:
    """A git URL hostd may clone, in shape only (addresses: hostd.store.addresses)."""
    if not value:
        raise ValueError("is required")
    if any(ch.isspace() or ch in URL_METACHARACTERS for ch in value):
        raise ValueError("must not contain whitespace, quotes or shell metacharacters "
                         "(; | & $ ` < > ( ) \\)")
    if len(value) > URL_MAX or _has_control(value):
        raise ValueError("is not a git URL")
    if value.startswith("-"):
        raise ValueError("must not start with '-'")
    if value.startswith("file://") or value.startswith("/") or value.startswith("."):
        return _check_local(value, allow_local=allow_local)
    _check_scheme(value.split("://", 1)[0].lower() if "://" in value else "", allow_private)
    repo = parse_repo_url(value)
    if repo is None or repo.path in ("", "/"):
        raise ValueError(f"must be a git URL: {_REMOTE_FORMS}")
    if not 0 < repo.connect_port < 65536:
        raise ValueError("has a port out of range")
    if repo.scheme == "ssh" and repo.password is not None:
        raise ValueError("must not carry a password in an ssh URL (ssh uses keys)")
    return value


def _check_scheme(scheme: str, allow_private: bool) -> None:
    if scheme == "git":
        raise ValueError("must not use git:// (unencrypted and unauthenticated): use https://")
    if scheme == "http" and not allow_private:
        raise ValueError(
            "must not use plain http://: use https:// (the daemon's owner can allow http for "
            "a git server on their own network with HOSTD_ALLOW_PRIVATE_REPOS=true)"
        )
    if scheme and scheme not in DEFAULT_PORTS:
        raise ValueError(f"must be a git URL: {_REMOTE_FORMS}")


def _check_local(url: str, *, allow_local: bool) -> str:
    if not allow_local:
        raise ValueError(
            "local repositories are disabled: use an https, ssh or git@host:path URL "
            "(the daemon's owner can allow them with HOSTD_ALLOW_LOCAL_REPOS=true)"
        )
    if not Path(url.removeprefix("file://")).is_absolute():
        raise ValueError("a local repository must be an absolute path or file:// URL")
    return url


def handle_base(email: str) -> str:
    """`bob.smith+x@a.com` → `bob-smith-x`: the email's local part made DNS-safe."""
    local = email.split("@", 1)[0]
    ascii_local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    handle = re.sub(r"[^a-z0-9]+", "-", ascii_local.lower()).strip("-")
    return handle[:HANDLE_MAX].strip("-") or "user"


def handle_candidate(base: str, attempt: int) -> str:
    """The first try is the base (unless reserved); then `base-2`, `base-3`, … kept within
    the length limit."""
    if attempt <= 1 and base not in RESERVED_HANDLES:
        return base
    attempt = max(attempt, 2)
    suffix = f"-{attempt}"
    return base[: HANDLE_MAX - len(suffix)].strip("-") + suffix


# `scheme://userinfo@`: greedy up to the last `@` before the path, so `a:b@c@host` goes too.
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^/\s]*)@")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`https://TOKEN@host/…` → `https://***@host/…` (ssh's bare user is not a secret),
    and any of `secrets` wherever it appears."""
    def hide(match: re.Match[str]) -> str:
        scheme, userinfo = match.group(1), match.group(2)
        if scheme.lower() == "ssh" and ":" not in userinfo:
            return match.group(0)
        return f"{scheme}://***@"

    if "@" in text:  # the list route redacts every row: skip the regex when it cannot match
        text = _USERINFO.sub(hide, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


PROCESS_TYPE = re.compile(r"[A-Za-z0-9_-]{1,63}")  # as a Procfile names them
QUANTITY_MAX = 20


def check_formation(value: dict[str, int]) -> dict[str, int]:
    """A first formation at create: process type names as a Procfile's, 0-20 each."""
    for name, quantity in value.items():
        if not PROCESS_TYPE.fullmatch(name):
            raise ValueError(f"{name[:64]!r} is not a process type name (letters, digits, "
                             "`_` and `-`, at most 63)")
        if not 0 <= quantity <= QUANTITY_MAX:
            raise ValueError(f"the quantity of {name!r} must be from 0 to {QUANTITY_MAX}")
    return value
