"""The moving-shapes world: short synthetic clips of colored shapes that move, bounce, grow,
shrink, change color, appear or disappear (:mod:`.clips`), rendered (:mod:`.render`), described
in a small caption language (:mod:`.language`), written as UCF-101 and MSR-VTT datasets
(:mod:`.world`), and the truth checker that scores generated captions against each clip
(:mod:`.truth`). docs/moving_shapes.md describes the classes, labels, captions and files.

``MovingShapesConfig``, ``generate_moving_shapes``, the class lists and the config bounds are the
public API that ``mmrnn data shapes-video`` uses; the tasks score captions with
``read_clip_truths``, ``check_video_caption`` and ``video_faithfulness``.
"""

from multimodal_rnn.datasets.moving_shapes.clips import (
    ACTION_CLASSES,
    FRAME_LABELS,
    MAX_FPS,
    MAX_FRAME_SIZE,
    MAX_FRAMES,
    MIN_FRAME_SIZE,
    MIN_FRAMES,
    MOTION_CLASSES,
    MovingShapesConfig,
)
from multimodal_rnn.datasets.moving_shapes.truth import (
    ClipTruth,
    check_video_caption,
    read_clip_truths,
    video_faithfulness,
)
from multimodal_rnn.datasets.moving_shapes.world import generate_moving_shapes

__all__ = [
    "ACTION_CLASSES",
    "ClipTruth",
    "FRAME_LABELS",
    "MAX_FPS",
    "MAX_FRAMES",
    "MAX_FRAME_SIZE",
    "MIN_FRAMES",
    "MIN_FRAME_SIZE",
    "MOTION_CLASSES",
    "MovingShapesConfig",
    "check_video_caption",
    "generate_moving_shapes",
    "read_clip_truths",
    "video_faithfulness",
]
