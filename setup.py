"""Build steps that pyproject.toml cannot declare.

* The repository keeps the apps in ``apps/`` and the shipped weights in ``weights/``; the wheel
  installs them inside the package, as ``multimodal_rnn.apps`` and ``multimodal_rnn/weights/``, so
  nothing but ``multimodal_rnn`` lands at the top level of site-packages.
* The git commit being built (or ``$MMRNN_BUILD_COMMIT``) is written into the package (``multimodal_rnn/BUILD_COMMIT``), so
  checkpoints trained with an installed copy name the commit (:mod:`multimodal_rnn.build_info`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _commit() -> str:
    """``$MMRNN_BUILD_COMMIT`` (builds outside a checkout: CI, an unpacked sdist), else ``git rev-parse HEAD``."""
    if os.environ.get("MMRNN_BUILD_COMMIT"):
        return os.environ["MMRNN_BUILD_COMMIT"].strip()
    try:
        result = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


class BuildWithCommit(build_py):
    """``build_py`` from a clean ``build/lib/multimodal_rnn`` (files deleted from the sources must
    not linger in the next wheel), then ``multimodal_rnn/BUILD_COMMIT`` written into it."""

    def run(self) -> None:
        shutil.rmtree(Path(self.build_lib) / "multimodal_rnn", ignore_errors=True)
        super().run()
        target = Path(self.build_lib) / "multimodal_rnn" / "BUILD_COMMIT"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_commit() + "\n", encoding="utf-8")


setup(
    packages=[
        *find_packages(include=["multimodal_rnn", "multimodal_rnn.*"]),
        "multimodal_rnn.apps",
        *(f"multimodal_rnn.apps.{name}" for name in find_packages("apps")),
        "multimodal_rnn.weights",
    ],
    package_dir={"multimodal_rnn.apps": "apps", "multimodal_rnn.weights": "weights"},
    package_data={
        "multimodal_rnn.apps.server": ["static/*"],
        "multimodal_rnn.weights": ["*.safetensors", "*.card.json", "*.md"],
    },
    cmdclass={"build_py": BuildWithCommit},
)
