"""The shipped weights: where they live (inside the installed package), how a command finds a
checkpoint when the user names none, and their model cards.

A model card is data: ``weights/<stem>.card.json`` next to ``weights/<stem>.safetensors`` holds
``card_version``, ``file``, ``sha256``, ``size_bytes``, ``task``, ``variant`` (the key of the
file in its task's ``shipped``), ``title``, ``model`` (``name``, ``description``), ``data``
(``name``, ``seed``, ``command``, ``description``), ``training`` (``command``, ``install``,
``settings``, ``selected``, ``time``), ``evaluation`` (a list of ``split``, ``count``, ``unit``,
``settings``, ``command``, ``metrics``) and ``notes``. Longer prose for the weights' README goes
in an optional ``<stem>.notes.md`` beside them; ``weights/README.md`` is generated from both
(``python -m apps.weights_readme``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from multimodal_rnn.errors import DataFormatError, InputError
from multimodal_rnn.files import read_json, require_keys

CARD_VERSION = 1
CARD_SUFFIX = ".card.json"
NOTES_SUFFIX = ".notes.md"
CARD_KEYS = ("card_version", "file", "sha256", "size_bytes", "task", "variant", "title", "model", "data",
             "training", "evaluation", "notes")


def weights_dir() -> Path:
    """``$MMRNN_WEIGHTS_DIR`` if set, else the package's ``weights`` folder: inside the package when
    installed from a wheel (the build copies the repository's ``weights/`` there), the repository's
    ``weights/`` in a source checkout or an editable install."""
    env = os.environ.get("MMRNN_WEIGHTS_DIR")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent
    installed = package / "weights"
    return installed if installed.is_dir() else package.parent / "weights"


def resolve_weights(path: str | os.PathLike[str] | None, shipped: Mapping[str, str], *, task: str,
                    variant: str = "default") -> Path:
    """The checkpoint to load: ``path`` if given, else the shipped file of ``variant``.

    ``shipped`` is a task's variant -> file name mapping (:attr:`multimodal_rnn.tasks.protocol.Task.shipped`).
    """
    if path:
        return Path(path)
    if variant not in shipped:
        listed = ", ".join(shipped) or "none"
        raise InputError(f"no shipped {task} weights for {variant} (shipped: {listed}); pass --weights FILE")
    default = weights_dir() / shipped[variant]
    if not default.exists():
        raise InputError(f"{default}: shipped {task} weights not found; pass --weights FILE")
    return default


def card_path(weights_file: str | os.PathLike[str]) -> Path:
    """Where the model card of ``weights_file`` (``X.safetensors``) lives: ``X.card.json`` beside it."""
    path = Path(weights_file)
    return path.with_name(path.name.removesuffix(".safetensors") + CARD_SUFFIX)


def notes_path(weights_file: str | os.PathLike[str]) -> Path:
    """The optional markdown notes of ``weights_file`` for the weights' README: ``X.notes.md`` beside it."""
    path = Path(weights_file)
    return path.with_name(path.name.removesuffix(".safetensors") + NOTES_SUFFIX)


def read_card(weights_file: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The model card of ``weights_file``, or None when it has none.

    Raises:
        DataFormatError: the card is malformed, of another version, or about another file.
    """
    path = card_path(weights_file)
    if not path.is_file():
        return None
    card = require_keys(read_json(path), CARD_KEYS, where=str(path))
    if card["card_version"] != CARD_VERSION:
        raise DataFormatError(f"{path}: model card version {card['card_version']} is not supported (expected {CARD_VERSION})")
    if card["file"] != Path(weights_file).name:
        raise DataFormatError(f"{path}: the card is about {card['file']!r}, not {Path(weights_file).name!r}")
    return card
