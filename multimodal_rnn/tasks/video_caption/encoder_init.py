"""Starting a video model's frame encoder from the image encoder of another checkpoint.

A captioner trained on still images of a world already sees its colors, shapes and positions;
its ``encoder.*`` tensors can start (or, frozen, be) the frame encoder of a video model whose
encoder has the same architecture. The checkpoint may be of any task of this package: only its
header's ``model_config["encoder"]`` and its ``encoder.*`` tensors are read.
"""

from __future__ import annotations

import os

from multimodal_rnn.checkpoint import load_checkpoint
from multimodal_rnn.config import config_to_dict
from multimodal_rnn.encoders.image import ImageEncoder
from multimodal_rnn.errors import CheckpointError

ARCHITECTURE_FIELDS = ("backbone", "channels", "image_size", "mean", "std")
"""The encoder options that must agree for the weights to mean the same thing."""


def copy_image_encoder(path: str | os.PathLike[str], encoder: ImageEncoder) -> None:
    """Load the ``encoder.*`` tensors of the checkpoint at ``path`` into ``encoder``.

    Raises:
        CheckpointError: the file is not a checkpoint, has no image encoder, or one of another
            architecture (backbone, widths, image size or normalization differ).
    """
    checkpoint = load_checkpoint(path)
    stored = checkpoint.model_config.get("encoder")
    state = {key[len("encoder.") :]: value for key, value in checkpoint.tensors.items() if key.startswith("encoder.")}
    if not isinstance(stored, dict) or not state:
        raise CheckpointError(f"{path}: the {checkpoint.task} checkpoint has no image encoder")
    ours = config_to_dict(encoder.config)
    differ = [name for name in ARCHITECTURE_FIELDS if _plain(stored.get(name)) != _plain(ours.get(name))]
    if differ:
        name = differ[0]
        raise CheckpointError(
            f"{path}: its image encoder has {name} {stored.get(name)!r}, this model's {ours.get(name)!r}"
        )
    missing = sorted(set(encoder.state_dict()) - set(state))
    if missing:
        raise CheckpointError(f"{path}: its image encoder lacks {len(missing)} tensors, e.g. {missing[0]!r}")
    encoder.load_state_dict(state, strict=False)
    encoder.set_trainable(encoder.config.trainable, encoder.config.fine_tune_from)


def _plain(value: object) -> object:
    """JSON lists and tuples compare alike."""
    return list(value) if isinstance(value, (list, tuple)) else value
