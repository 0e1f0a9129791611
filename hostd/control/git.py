"""Cloning untrusted repositories: git as a subprocess with list arguments, in an
environment built from nothing, to public addresses only, credentials never in argv."""

from __future__ import annotations

import base64
import logging
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hostd.config import Settings
from hostd.control.cancel import CancelScope
from hostd.control.clonewatch import CloneLimits, run_clone
from hostd.store import addresses, localrepo
from hostd.store.addresses import AddressRefused, IPAddress
from hostd.store.validation import RepoUrl, parse_repo_url, redact

log = logging.getLogger("hostd.git")

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNREACHABLE = ("could not reach the repository: check the URL and that the repository is "
               "public, or put a token in the URL for a private one "
               "(https://TOKEN@host/owner/repo)")
NOT_PUBLIC = ("the repository must be on a public address (the daemon's owner can allow "
              "private ones with HOSTD_ALLOW_PRIVATE_REPOS=true)")


class CloneFailed(Exception):
    """git could not clone; the message is safe to show the user (nothing the server said)."""


@dataclass(frozen=True)
class GitCommand:
    argv: list[str]
    env: dict[str, str]
    secrets: tuple[str, ...] = ()  # what redact must also hide in git's output


def _protocols(settings: Settings) -> str:
    allowed = ["https", "ssh"]
    if settings.allow_private_repos:
        allowed.append("http")  # an operator's LAN git server
    if settings.allow_local_repos:
        allowed.append("file")
    return ":".join(allowed)


def ssh_command(settings: Settings, repo: RepoUrl | None, pinned: IPAddress | None) -> str:
    """GIT_SSH_COMMAND: no config, keys, agent or prompts; known hosts from hostd's file
    only. git runs this through a shell, so every piece is quoted."""
    parts = ["ssh", "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=none",
             "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=yes",
             "-o", f"UserKnownHostsFile={settings.known_hosts_file}",
             "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ControlPath=none"]
    if repo is not None and pinned is not None:
        # Connect to the address we checked; the host key is still looked up by name.
        parts += ["-o", f"HostName={pinned}", "-o", f"HostKeyAlias={repo.host}"]
    return shlex.join(parts)


def _env_config(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Config through the environment: /proc/<pid>/environ is readable by the process's
    owner only, where argv (`ps`) is readable by every local user."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def _credential_config(repo: RepoUrl | None) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    """The URL's userinfo as a Basic Authorization header scoped to its origin."""
    if repo is None or not repo.has_credentials():
        return [], ()
    user, password = repo.user or "", repo.password or ""
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    header = ("http." + repo.origin() + "/.extraHeader", f"Authorization: Basic {basic}")
    return [header], (user, password, basic)


def clean_env(settings: Settings, home: Path, repo: RepoUrl | None,
              pinned: IPAddress | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """git's whole environment, from scratch (nothing of the daemon's), and the secrets in it."""
    env = {
        "PATH": SAFE_PATH, "HOME": str(home), "LANG": "C", "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password nobody will type
        "GIT_ALLOW_PROTOCOL": _protocols(settings),
        "GIT_SSH_COMMAND": ssh_command(settings, repo, pinned), "GIT_SSH_VARIANT": "ssh",
        "GIT_LFS_SKIP_SMUDGE": "1",
    }
    pairs, secrets = _credential_config(repo)
    if settings.git_proxy:
        # In the environment too: an operator's proxy URL may carry its own password.
        pairs.append(("http.proxy", settings.git_proxy))
        secrets += (settings.git_proxy,)
    if pairs:
        env.update(_env_config(pairs))
    return env, secrets


def clone_command(url: str, dest: Path, settings: Settings, home: Path,
                  pinned: IPAddress | None = None) -> GitCommand:
    """The argv and environment of one shallow clone of `url` into `dest`."""
    repo = parse_repo_url(url)
    env, secrets = clean_env(settings, home, repo, pinned)
    target = repo.without_credentials() if repo is not None else url
    options = ["-c", "credential.helper=", "-c", "http.followRedirects=false"]
    if repo is not None and pinned is not None and repo.scheme in ("https", "http"):
        address = f"[{pinned}]" if pinned.version == 6 else str(pinned)
        options += ["-c", f"http.curloptResolve={repo.host}:{repo.connect_port}:{address}"]
    argv = ["git", *options, "clone", "--depth", "1", "--quiet", "--no-tags", "--",
            target, str(dest)]
    return GitCommand(argv, env, secrets)


def pinned_address(url: str, settings: Settings) -> IPAddress | None:
    """Check where `url` points again, now, and the address to hold git to (None: no pin).

    Raises CloneFailed for a refused or unresolvable host."""
    repo = parse_repo_url(url)
    if repo is None or settings.allow_private_repos:
        return None  # a local path, or the operator lets git go anywhere
    literal = addresses.literal(repo.host)
    if literal is None and settings.git_proxy and repo.scheme in ("https", "http"):
        return None  # the proxy resolves the name (it may not resolve here at all)
    try:
        address = addresses.checked_address(repo.host, repo.connect_port)
    except AddressRefused as exc:
        log.warning("clone refused: %s resolves to a %s address", repo.host, exc)
        raise CloneFailed(NOT_PUBLIC) from None
    if address is None:
        log.warning("clone failed: %s does not resolve", repo.host)
        raise CloneFailed(UNREACHABLE)
    return None if literal is not None else address


def shallow_clone(url: str, dest: Path, settings: Settings,
                  cancel: CancelScope | None = None) -> str:
    """Clone the default branch's latest commit into `dest`; return the commit hash.
    The clone is stopped at its deadline, past the source caps, or at `cancel`."""
    if localrepo.is_local(url):
        url = _confined(url, settings)
    pinned = pinned_address(url, settings)
    home = Path(tempfile.mkdtemp(prefix="hostd-git-home-"))  # empty: no operator identity
    try:
        command = clone_command(url, dest, settings, home, pinned)
        _run_clone(command, url, dest, settings, cancel)
        head = subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=30, check=False,
                              env=command.env, cwd=home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if head.returncode != 0:
        raise CloneFailed("the repository has no commits")
    # The history is not needed in the image: a smaller build context, no leaked .git.
    shutil.rmtree(dest / ".git", ignore_errors=True)
    return head.stdout.strip()


def _confined(url: str, settings: Settings) -> str:
    """The real path git may clone, checked again now (a symlink may have moved since the
    project was made, or the operator changed the root)."""
    if not settings.allow_local_repos:
        raise CloneFailed("local repositories are disabled (HOSTD_ALLOW_LOCAL_REPOS)")
    try:
        return localrepo.confined(url, settings.local_repos_root)
    except ValueError as exc:
        log.warning("clone refused: a local path outside HOSTD_LOCAL_REPOS_ROOT")
        raise CloneFailed(f"the repository {exc}") from None


def _run_clone(command: GitCommand, url: str, dest: Path, settings: Settings,
               cancel: CancelScope | None) -> None:
    limits = CloneLimits(timeout_s=settings.clone_timeout_s,
                         max_bytes=settings.max_source_mb * 2**20,
                         max_files=settings.max_source_files)
    try:
        done = run_clone(command.argv, command.env, Path(command.env["HOME"]), dest, limits,
                         cancel)
    except FileNotFoundError:
        raise CloneFailed("git is not installed on the daemon's machine") from None
    if done.stopped is not None:
        raise CloneFailed(done.stopped)
    if done.returncode != 0:
        # What the server answered stays in the daemon's log: a user must not learn what
        # listens at an address by reading their deploy's reason.
        words = _last_words(done.stderr) or f"git exited with {done.returncode}"
        log.warning("clone of %s failed: %s", redact(url, command.secrets),
                    redact(words, command.secrets))
        raise CloneFailed(UNREACHABLE)


def _last_words(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or [""])[-1][:500]
