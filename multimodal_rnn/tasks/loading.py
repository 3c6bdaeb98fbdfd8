"""The one way a task's predictor opens its checkpoint: the model through the task's registry,
its vocabulary, and the checks that they belong together."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from torch import nn

from multimodal_rnn.checkpoint import Checkpoint, load_model
from multimodal_rnn.errors import CheckpointError, MMRNNError
from multimodal_rnn.registry import Registry
from multimodal_rnn.text.vocab import Vocabulary

M = TypeVar("M", bound=nn.Module)


def load_with_vocabulary(
    path: str | os.PathLike[str],
    *,
    registry: Registry,
    task: str,
    model_class: type[M],
    size_field: str,
    needs_answers: bool = False,
) -> tuple[M, Checkpoint, Vocabulary]:
    """``(model, checkpoint, vocabulary)`` of a ``task`` checkpoint, the model in eval mode on CPU.

    Args:
        size_field: the model config's field that must equal the vocabulary's size
            (``vocab_size``, ``num_words``).
        needs_answers: the checkpoint must also carry a non-empty answer list.

    Raises:
        CheckpointError: one line naming the file: not of ``task``, no vocabulary (or answers),
            a malformed vocabulary, or one whose size the model does not expect.
    """
    model, checkpoint = load_model(path, registry=registry, task=task)
    if not isinstance(model, model_class):
        raise CheckpointError(f"{path}: holds a {type(model).__name__}, not a {model_class.__name__}")
    if checkpoint.vocab is None or (needs_answers and not checkpoint.answers):
        needed = "a vocabulary and an answer list" if needs_answers else "a vocabulary"
        raise CheckpointError(f"{path}: {task} checkpoint without {needed}")
    try:
        vocab = Vocabulary.from_dict(checkpoint.vocab, where=f"{path}: vocab")
    except MMRNNError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    expected = getattr(model.config, size_field)
    if len(vocab) != expected:
        raise CheckpointError(f"{path}: vocabulary has {len(vocab)} words, model expects {expected}")
    return model, checkpoint, vocab


def load_with_classes(
    path: str | os.PathLike[str], *, registry: Registry, task: str, model_class: type[M]
) -> tuple[M, Checkpoint, list[str]]:
    """``(model, checkpoint, class names)`` of a classifier checkpoint, the names from its header's
    ``extra["classes"]`` (one per output of the model, ``model.config.num_classes``).

    Raises:
        CheckpointError: one line naming the file: not of ``task``, or without a class list of the
            model's size (distinct strings).
    """
    model, checkpoint = load_model(path, registry=registry, task=task)
    if not isinstance(model, model_class):
        raise CheckpointError(f"{path}: holds a {type(model).__name__}, not a {model_class.__name__}")
    classes = checkpoint.extra.get("classes")
    config: Any = model.config
    expected = config.num_classes
    if (
        not isinstance(classes, list)
        or not all(isinstance(name, str) for name in classes)
        or len(set(classes)) != len(classes)
    ):
        raise CheckpointError(f"{path}: {task} checkpoint without a list of distinct class names (extra.classes)")
    if len(classes) != expected:
        raise CheckpointError(f"{path}: {len(classes)} class names, model expects {expected}")
    return model, checkpoint, classes
