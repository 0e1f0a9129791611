"""Shape rules for what users send: emails, names, passwords, repository URLs, handles.

Pure functions, used by the request models; each raises ValueError with a message
a person can act on.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

EMAIL_MAX = 254
PASSWORD_MIN = 6
PASSWORD_MAX_BYTES = 72  # bcrypt ignores everything past 72 bytes
NAME_MAX = 100
PROJECT_NAME_MAX = 40
HANDLE_MAX = 30
URL_MAX = 2048

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PROJECT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_REMOTE_URL = re.compile(r"^(?:https?|git|ssh)://(?:[A-Za-z0-9._~%-]+@)?[A-Za-z0-9.-]+(?::\d+)?/\S+$")
_SCP_URL = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:(?!//)[^\s]+$")


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


def check_repo_url(value: str, *, allow_local: bool) -> str:
    url = value.strip()
    if not url:
        raise ValueError("is required")
    if len(url) > URL_MAX or _has_control(url):
        raise ValueError("is not a git URL")
    if url.startswith("-"):
        raise ValueError("must not start with '-'")
    if _REMOTE_URL.match(url) or _SCP_URL.match(url):
        return url
    if url.startswith("file://") or url.startswith("/") or url.startswith("."):
        if not allow_local:
            raise ValueError(
                "local repositories are disabled: use an https, ssh or git@host:path URL "
                "(the daemon's owner can allow them with HOSTD_ALLOW_LOCAL_REPOS=true)"
            )
        path = url.removeprefix("file://")
        if not Path(path).is_absolute():
            raise ValueError("a local repository must be an absolute path or file:// URL")
        return url
    raise ValueError("must be a git URL: https://host/owner/repo, ssh://…, or git@host:owner/repo")


def handle_base(email: str) -> str:
    """`bob.smith+x@a.com` → `bob-smith-x`: the email's local part made DNS-safe."""
    local = email.split("@", 1)[0]
    ascii_local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    handle = re.sub(r"[^a-z0-9]+", "-", ascii_local.lower()).strip("-")
    return handle[:HANDLE_MAX].strip("-") or "user"


def handle_candidate(base: str, attempt: int) -> str:
    """The first try is the base; then `base-2`, `base-3`, … kept within the length limit."""
    if attempt <= 1:
        return base
    suffix = f"-{attempt}"
    return base[: HANDLE_MAX - len(suffix)].strip("-") + suffix
