"""Cloning repositories: `git` as a subprocess with list arguments, never a shell string."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path


class CloneFailed(Exception):
    """git could not clone; the message is git's own last words, credentials removed."""


_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")


def redact(text: str) -> str:
    """Remove `user:token@` from URLs so credentials never reach a log or a reason."""
    return _CREDENTIALS.sub(r"\1***@", text)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password nobody will type
        "GIT_ASKPASS": "true",
        "SSH_ASKPASS": "true",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
        "GIT_LFS_SKIP_SMUDGE": "1",
    })
    return env


def shallow_clone(url: str, dest: Path, timeout_s: float) -> str:
    """Clone the default branch's latest commit into `dest`; return the commit hash."""
    argv = ["git", "clone", "--depth", "1", "--quiet", "--no-tags", "--", url, str(dest)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              env=_env(), check=False)
    except subprocess.TimeoutExpired:
        raise CloneFailed(f"git clone took longer than {timeout_s:.0f}s") from None
    except FileNotFoundError:
        raise CloneFailed("git is not installed on the daemon's machine") from None
    if done.returncode != 0:
        raise CloneFailed(_last_words(done.stderr) or f"git exited with {done.returncode}")
    head = subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"], capture_output=True,
                          text=True, timeout=30, check=False)
    if head.returncode != 0:
        raise CloneFailed("the repository has no commits")
    # The history is not needed in the image: a smaller build context, no leaked .git.
    shutil.rmtree(dest / ".git", ignore_errors=True)
    return head.stdout.strip()


def _last_words(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return redact((fatal or lines or [""])[-1])
