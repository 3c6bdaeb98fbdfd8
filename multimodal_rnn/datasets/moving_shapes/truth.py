"""Faithfulness of moving-shapes captions: does everything a caption says hold in its clip?

A caption is parsed into clauses (:func:`~multimodal_rnn.datasets.moving_shapes.language.parse_caption`:
an object named by color and shape, and an action phrase) and each clause is checked against the
clip's truth (an entry of ``truth.json``, read by :func:`read_clip_truths`). A caption is
faithful when it parses, every object it names is in the clip (the actor by its first color),
every action it says is what that object does (with the right direction of a bounce and the
right colors of a color change), and it says what the actor does. The score of a set of
captions is the share of faithful ones.

Failure reasons start with one of :data:`FAILURE_KINDS`: ``unparsed`` (outside the caption
language), ``object`` (no such object in the clip: a wrong color or shape), ``action`` (that
object does something else: a wrong action, direction or color), ``missing`` (nothing said about
what the actor does).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from multimodal_rnn.datasets.moving_shapes.clips import ACTION_CLASSES, FRAME_LABELS
from multimodal_rnn.datasets.moving_shapes.language import Statement, action_phrases, parse_caption
from multimodal_rnn.datasets.shapes.scene import COLORS, SHAPES
from multimodal_rnn.datasets.shapes.truth import Verdict
from multimodal_rnn.errors import DataFormatError, InputError, first_ids
from multimodal_rnn.files import read_json, require_keys

__all__ = [
    "FAILURE_KINDS",
    "ClipTruth",
    "ObjectTruth",
    "Verdict",
    "VideoFaithfulness",
    "check_video_caption",
    "read_clip_truths",
    "video_faithfulness",
]

FAILURE_KINDS = ("unparsed", "object", "action", "missing")
"""First word of every failure reason (see the module docstring)."""
_DIRECTIONS = ("left", "right", "up", "down")


@dataclass(frozen=True)
class ObjectTruth:
    """One object of a clip: ``role`` "actor" or "still", its ``shape``, (first) ``color`` and
    ``action`` class; ``final_color`` of a color change, ``first_direction`` of a bounce."""

    role: str
    shape: str
    color: str
    action: str
    final_color: str | None = None
    first_direction: str | None = None


@dataclass(frozen=True)
class ClipTruth:
    """The truth of one clip: its class, objects (the actor first), per-frame labels and captions."""

    video_id: str
    label: str
    objects: tuple[ObjectTruth, ...]
    frame_labels: tuple[str, ...]
    captions: tuple[str, ...]
    split: str
    ucf_path: str

    @property
    def actor(self) -> ObjectTruth:
        """The object that does the clip's action."""
        return self.objects[0]


@dataclass(frozen=True)
class VideoFaithfulness:
    """Share of faithful captions (``score`` in [0, 1]) and the verdict of every clip."""

    score: float
    verdicts: dict[str, Verdict]

    @property
    def failures(self) -> dict[str, str]:
        """The reason of every unfaithful caption, by video id."""
        return {video_id: v.reason for video_id, v in self.verdicts.items() if v.reason is not None}

    def failure_counts(self) -> dict[str, int]:
        """Unfaithful captions per kind of failure (the kinds of :data:`FAILURE_KINDS` that occur)."""
        counts = Counter(reason.split(":")[0] for reason in self.failures.values())
        return {kind: counts[kind] for kind in FAILURE_KINDS if counts[kind]}


def check_video_caption(caption: str, truth: ClipTruth) -> Verdict:
    """The verdict on one caption of the clip whose truth is ``truth``."""
    statements = parse_caption(caption)
    if statements is None:
        return Verdict(False, "unparsed")
    actor_said = False
    for statement in statements:
        found = [o for o in truth.objects if (o.color, o.shape) == (statement.color, statement.shape)]
        if not found:
            return Verdict(False, f"object: no {statement.color} {statement.shape} in the clip")
        obj = found[0]
        if not _holds(statement, obj):
            return Verdict(False, f"action: the {obj.color} {obj.shape} {_describe(obj)}, not '{statement.words}'")
        actor_said = actor_said or obj.role == "actor"
    if not actor_said:
        actor = truth.actor
        return Verdict(False, f"missing: nothing said about what the {actor.color} {actor.shape} does")
    return Verdict(True)


def _holds(statement: Statement, obj: ObjectTruth) -> bool:
    if statement.action != obj.action:
        return False
    direction, color, first = statement.detail("direction"), statement.detail("color"), statement.detail("from")
    return (
        (direction is None or direction == obj.first_direction)
        and (color is None or color == obj.final_color)
        and (first is None or first == obj.color)
    )


def _describe(obj: ObjectTruth) -> str:
    """What the object does, in words (a bounce with its first direction)."""
    phrases = action_phrases(obj.action, color=obj.color, final_color=obj.final_color, direction=obj.first_direction)
    return phrases[-1] if obj.action.startswith("Bounces") else phrases[0]


def video_faithfulness(results: Mapping[str, str], truths: Mapping[str, ClipTruth]) -> VideoFaithfulness:
    """Score one caption per clip (``{video_id: caption}``) against the truths (:func:`read_clip_truths`).

    Raises:
        InputError: no captions, a caption that is not a string, or a video id without a truth.
    """
    if not results:
        raise InputError("no captions to score: the caption set is empty")
    missing = [video_id for video_id in results if video_id not in truths]
    if missing:
        raise InputError(f"captions for video ids without a clip truth: {first_ids(missing)}")
    verdicts = {}
    for video_id, caption in results.items():
        if not isinstance(caption, str):
            raise InputError(f"video {video_id!r}: caption is {type(caption).__name__}, not a string")
        verdicts[video_id] = check_video_caption(caption, truths[video_id])
    return VideoFaithfulness(sum(v.faithful for v in verdicts.values()) / len(verdicts), verdicts)


def read_clip_truths(path: str | os.PathLike[str]) -> dict[str, ClipTruth]:
    """Read ``truth.json`` (written by the moving-shapes generator) into ``{video_id: ClipTruth}``.

    Raises:
        InputError: the file is missing or unreadable.
        DataFormatError: not a moving-shapes truth file, or a malformed entry (the message names it).
    """
    data = require_keys(read_json(path), ("version", "clips"), where=str(path))
    if data["version"] != 1 or not isinstance(data["clips"], dict):
        raise DataFormatError(f"{path}: not a version-1 moving-shapes truth file ('clips' must be an object)")
    return {
        video_id: _clip_truth(video_id, entry, f"{path}: clips[{video_id!r}]")
        for video_id, entry in data["clips"].items()
    }


def _clip_truth(video_id: str, entry: Any, where: str) -> ClipTruth:
    keys = ("split", "ucf_path", "label", "frame_labels", "captions", "objects")
    entry = require_keys(entry, keys, where=where)
    if entry["label"] not in ACTION_CLASSES:
        raise DataFormatError(f"{where}: unknown action class {entry['label']!r}")
    labels, captions, objects = entry["frame_labels"], entry["captions"], entry["objects"]
    if not isinstance(labels, list) or any(label not in FRAME_LABELS for label in labels):
        raise DataFormatError(f"{where}: 'frame_labels' must be a list of {', '.join(FRAME_LABELS)}")
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        raise DataFormatError(f"{where}: 'captions' must be a list of strings")
    if not isinstance(objects, list) or not objects:
        raise DataFormatError(f"{where}: 'objects' must be a non-empty list (the actor first)")
    parsed = tuple(_object_truth(obj, f"{where}: objects[{i}]") for i, obj in enumerate(objects))
    if parsed[0].role != "actor" or parsed[0].action != entry["label"]:
        raise DataFormatError(f"{where}: objects[0] must be the actor, doing the clip's action {entry['label']!r}")
    return ClipTruth(
        video_id=video_id,
        label=entry["label"],
        objects=parsed,
        frame_labels=tuple(labels),
        captions=tuple(captions),
        split=str(entry["split"]),
        ucf_path=str(entry["ucf_path"]),
    )


def _object_truth(obj: Any, where: str) -> ObjectTruth:
    obj = require_keys(obj, ("role", "shape", "color", "action"), where=where)
    final, direction = obj.get("final_color"), obj.get("first_direction")
    problems = [
        obj["role"] not in ("actor", "still") and "role must be 'actor' or 'still'",
        obj["shape"] not in SHAPES and f"unknown shape {obj['shape']!r}",
        obj["color"] not in COLORS and f"unknown color {obj['color']!r}",
        obj["action"] not in ACTION_CLASSES and f"unknown action class {obj['action']!r}",
        final is not None and final not in COLORS and f"unknown final_color {final!r}",
        direction is not None and direction not in _DIRECTIONS and f"unknown first_direction {direction!r}",
        obj["action"] == "ChangesColor" and final is None and "a ChangesColor object needs final_color",
        obj["action"].startswith("Bounces") and direction is None and "a bouncing object needs first_direction",
    ]
    problem = next((p for p in problems if p), None)
    if problem:
        raise DataFormatError(f"{where}: {problem}")
    return ObjectTruth(obj["role"], obj["shape"], obj["color"], obj["action"], final, direction)
