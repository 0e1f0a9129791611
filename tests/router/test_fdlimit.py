"""The open-files limit is raised for the router, never beyond the hard limit."""

from __future__ import annotations

import subprocess
import sys


def test_the_soft_limit_rises_to_what_the_hard_limit_allows():
    code = (
        "import resource\n"
        "from hostd.router.fdlimit import raise_open_files_limit\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))\n"
        "assert raise_open_files_limit() == 4096\n"
        "assert resource.getrlimit(resource.RLIMIT_NOFILE) == (4096, 4096)\n"
        "assert raise_open_files_limit(wanted=100) == 4096, 'never lowered'\n"
    )
    # A child process: the test session's own limit stays as it is.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
