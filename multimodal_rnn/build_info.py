"""Which source the running package came from: the version and the git commit that checkpoint headers record."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

PACKAGE_VERSION = "0.1.0"
"""The package version (``multimodal_rnn.__version__``, which the build reads)."""
PACKAGE_DIR = Path(__file__).resolve().parent
BUILD_COMMIT_FILE = "BUILD_COMMIT"
"""Written into the package by the build (``setup.py``); absent in a source checkout."""


@functools.lru_cache(maxsize=None)
def git_commit() -> str:
    """The commit of the running code, ``"unknown"`` when it cannot be told; never raises.

    An installed copy answers with the commit baked in when it was built (``BUILD_COMMIT``); a
    source checkout (the package's parent folder is the top of a git work tree, editable installs
    included) with ``git rev-parse HEAD``. A copy installed into a folder that happens to lie in
    some other git repository does not take that repository's commit.
    """
    return commit_of(PACKAGE_DIR)


def commit_of(package_dir: Path) -> str:
    """:func:`git_commit` for a copy of the package at ``package_dir``."""
    return _baked_commit(package_dir) or _checkout_commit(package_dir.parent) or "unknown"


def _baked_commit(package_dir: Path) -> str | None:
    try:
        return (package_dir / BUILD_COMMIT_FILE).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _checkout_commit(root: Path) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.split()
    if len(lines) != 2 or Path(lines[0]).resolve() != root.resolve():
        return None
    return lines[1]
