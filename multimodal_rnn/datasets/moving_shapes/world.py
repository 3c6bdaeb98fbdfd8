"""Moving-shapes world: a built-in synthetic video dataset for action recognition, frame labeling
and video captioning.

Every clip is written twice, in the layouts of two public datasets, plus its ground truth.
Everything is deterministic: each clip draws from its own ``random.Random`` seeded by (seed,
split, index, purpose), so the same seed gives the same frames and byte-identical JSON files, and
the val and test clips do not depend on the train size. Layout written under ``out_dir``::

    ucf/classInd.txt                      "1 Appears" ... (the classes, alphabetical)
    ucf/<Class>/v_<Class>_gXX_cYY.avi     UCF-101 layout, MPEG-4 part 2 (groups of 4 clips)
    ucf/trainlist01.txt                   "<Class>/v_<...>.avi <class index>"
    ucf/vallist01.txt, ucf/testlist01.txt "<Class>/v_<...>.avi"
    ucf/frame_labels.json                 {"version": 1, "classes": [...], "videos": {path: {"frames": [...]}}}
    msrvtt/videodatainfo.json             MSR-VTT: videos (split train/validate/test) and sentences
    msrvtt/videos/video<N>.mp4            the same clips, H.264
    truth.json                            per video_id: label, frame labels, objects, captions, UCF path
    manifest.json                         config, classes, counts

Video ids (``video0``, ``video1``, ...) run through train, then val, then test.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.moving_shapes.clips import (
    ACTION_CLASSES,
    FRAME_LABELS,
    MOTION_CLASSES,
    Clip,
    MovingShapesConfig,
    frame_labels,
    make_clip,
)
from multimodal_rnn.datasets.moving_shapes.language import CAPTIONS_PER_CLIP, captions_for
from multimodal_rnn.datasets.moving_shapes.render import render_clip
from multimodal_rnn.errors import InputError
from multimodal_rnn.files import atomic_write, deferred_sync, write_json

SPLITS: tuple[str, ...] = ("train", "val", "test")
MSRVTT_SPLITS = {"train": "train", "val": "validate", "test": "test"}
"""The MSR-VTT name of each split."""
UCF_LISTS = {"train": "trainlist01.txt", "val": "vallist01.txt", "test": "testlist01.txt"}
CLIPS_PER_GROUP = 4
"""Clips of one class per UCF-101 group (``gXX``); a group never spans two splits."""


@dataclass(frozen=True)
class ClipRecord:
    """Everything about one clip, in memory (render its frames with :func:`render_clip`)."""

    video_id: str
    split: str
    clip: Clip
    frame_labels: tuple[str, ...]
    captions: tuple[str, ...]
    ucf_path: str

    @property
    def label(self) -> str:
        """The action class."""
        return self.clip.actor.action


def clip_rng(seed: int, split: str, index: int, purpose: str) -> random.Random:
    """The random stream of one clip for one purpose (``"clip"``, ``"captions"``)."""
    return random.Random(f"moving-shapes/{seed}/{split}/{index}/{purpose}")


def clip_action(seed: int, split: str, index: int) -> str:
    """The class of clip ``index`` of ``split``: each run of ``len(ACTION_CLASSES)`` clips holds
    every class once, in an order drawn per run."""
    block, position = divmod(index, len(ACTION_CLASSES))
    order = random.Random(f"moving-shapes/{seed}/{split}/classes/{block}").sample(ACTION_CLASSES, len(ACTION_CLASSES))
    return order[position]


def clip_records(config: MovingShapesConfig) -> list[ClipRecord]:
    """Every clip of the world, in video-id order (train, val, test), without rendering any."""
    sizes = {"train": config.train_size, "val": config.val_size, "test": config.test_size}
    groups = dict.fromkeys(ACTION_CLASSES, 0)  # last group number used per class
    in_group = dict.fromkeys(ACTION_CLASSES, CLIPS_PER_GROUP)  # clips in that group so far
    records: list[ClipRecord] = []
    for split in SPLITS:
        for action in ACTION_CLASSES:  # a new group at every split
            in_group[action] = CLIPS_PER_GROUP
        for index in range(sizes[split]):
            action = clip_action(config.seed, split, index)
            if in_group[action] == CLIPS_PER_GROUP:
                groups[action], in_group[action] = groups[action] + 1, 0
            in_group[action] += 1
            clip = make_clip(clip_rng(config.seed, split, index, "clip"), action, config)
            records.append(
                ClipRecord(
                    video_id=f"video{len(records)}",
                    split=split,
                    clip=clip,
                    frame_labels=frame_labels(clip.actor.states),
                    captions=tuple(captions_for(clip, clip_rng(config.seed, split, index, "captions"))),
                    ucf_path=f"{action}/v_{action}_g{groups[action]:02d}_c{in_group[action]:02d}.avi",
                )
            )
    return records


def generate_moving_shapes(
    out_dir: str | os.PathLike[str],
    config: MovingShapesConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Generate the moving-shapes world into ``out_dir``; returns a summary of what was written.

    Args:
        out_dir: destination directory; created if missing.
        config: sizes, seed and clip options (None: the defaults).
        progress: called as ``progress(clips_done, clips_total)`` after each clip.
        overwrite: allow a non-empty ``out_dir``; the files of a previous moving-shapes world
            there (``ucf/``, ``msrvtt/``, ``truth.json``, ``manifest.json``) are removed first,
            nothing else is.

    Returns:
        ``{"out_dir", "manifest", "truth", "ucf", "msrvtt", "splits": {split: {"clips",
        "captions"}}, "caption_vocabulary_size"}`` with paths as strings.

    Raises:
        InputError: ``out_dir`` is a file, or a non-empty directory and ``overwrite`` is False.
    """
    from multimodal_rnn.video import write_clip

    config = config or MovingShapesConfig()
    out = Path(out_dir)
    _prepare_directory(out, overwrite)
    records = clip_records(config)
    ucf, msrvtt = out / "ucf", out / "msrvtt"
    (msrvtt / "videos").mkdir(parents=True, exist_ok=True)
    for action in ACTION_CLASSES:
        (ucf / action).mkdir(parents=True, exist_ok=True)
    with deferred_sync():  # flushed once at the end; the manifest, written last, marks a whole world
        for done, record in enumerate(records, start=1):
            frames = render_clip(record.clip, config.frame_size)
            write_clip(ucf / record.ucf_path, frames, fps=config.fps)
            write_clip(msrvtt / "videos" / f"{record.video_id}.mp4", frames, fps=config.fps)
            if progress is not None:
                progress(done, len(records))
        _write_ucf_lists(ucf, records)
        write_json(ucf / "frame_labels.json", frame_labels_file(records))
        write_json(msrvtt / "videodatainfo.json", msrvtt_info(records, config))
        write_json(out / "truth.json", truth_file(records, config.frame_size))
    vocabulary = sorted({word for r in records for caption in r.captions for word in caption.split()})
    splits = {
        split: {
            "clips": sum(r.split == split for r in records),
            "captions": sum(len(r.captions) for r in records if r.split == split),
        }
        for split in SPLITS
    }
    manifest = {
        "dataset": "moving_shapes",
        "format_version": 1,
        "config": config_to_dict(config),
        "classes": list(ACTION_CLASSES),
        "motion_classes": list(MOTION_CLASSES),
        "frame_labels": list(FRAME_LABELS),
        "captions_per_clip": CAPTIONS_PER_CLIP,
        "caption_vocabulary": vocabulary,
        "splits": splits,
        "files": {
            "ucf": "ucf",
            "ucf_lists": {split: f"ucf/{name}" for split, name in UCF_LISTS.items()},
            "frame_labels": "ucf/frame_labels.json",
            "msrvtt": "msrvtt/videodatainfo.json",
            "msrvtt_videos": "msrvtt/videos",
            "truth": "truth.json",
        },
    }
    write_json(out / "manifest.json", manifest)
    return {
        "out_dir": str(out),
        "manifest": str(out / "manifest.json"),
        "truth": str(out / "truth.json"),
        "ucf": str(ucf),
        "msrvtt": str(msrvtt),
        "splits": splits,
        "caption_vocabulary_size": len(vocabulary),
    }


def _write_ucf_lists(ucf: Path, records: list[ClipRecord]) -> None:
    _write_text(ucf / "classInd.txt", "".join(f"{i} {name}\n" for i, name in enumerate(ACTION_CLASSES, start=1)))
    index = {name: i for i, name in enumerate(ACTION_CLASSES, start=1)}
    for split, name in UCF_LISTS.items():
        chosen = [r for r in records if r.split == split]
        lines = [f"{r.ucf_path} {index[r.label]}\n" if split == "train" else f"{r.ucf_path}\n" for r in chosen]
        _write_text(ucf / name, "".join(lines))


def _write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    atomic_write(path, write)


def frame_labels_file(records: list[ClipRecord]) -> dict[str, Any]:
    """The per-frame labels file: ``{"version": 1, "classes", "videos": {ucf_path: {"frames"}}}``."""
    videos = {r.ucf_path: {"frames": list(r.frame_labels)} for r in records}
    return {"version": 1, "classes": list(FRAME_LABELS), "videos": videos}


def msrvtt_info(records: list[ClipRecord], config: MovingShapesConfig) -> dict[str, Any]:
    """MSR-VTT's ``videodatainfo.json``: ``info``, ``videos`` (one per clip) and ``sentences``."""
    duration = round(config.num_frames / config.fps, 3)
    category = {name: i for i, name in enumerate(ACTION_CLASSES)}
    videos = [
        {
            "category": category[r.label],
            "end time": duration,
            "id": number,
            "split": MSRVTT_SPLITS[r.split],
            "start time": 0.0,
            "url": "",
            "video_id": r.video_id,
        }
        for number, r in enumerate(records)
    ]
    sentences: list[dict[str, Any]] = []
    for r in records:
        for caption in r.captions:
            sentences.append({"caption": caption, "sen_id": len(sentences), "video_id": r.video_id})
    info = {"contributor": "multimodal_rnn moving-shapes world", "version": "1.0", "year": 2026}
    return {"info": info, "videos": videos, "sentences": sentences}


def truth_file(records: list[ClipRecord], size: int) -> dict[str, Any]:
    """``truth.json``: ``{"version": 1, "classes", "frame_labels", "clips": {video_id: entry}}``,
    each entry with ``split``, ``ucf_path``, ``label``, ``frame_labels``, ``captions``, ``objects``
    (the actor first) and ``track`` (the actor's ``[x, y, radius]`` in pixels per frame, null
    while it is absent)."""
    clips = {}
    for r in records:
        actor, still = r.clip.actor, r.clip.still
        objects: list[dict[str, Any]] = [
            {"role": "actor", "shape": actor.shape, "color": actor.color, "action": actor.action}
        ]
        if actor.final_color is not None:
            objects[0]["final_color"] = actor.final_color
        if actor.first_direction is not None:
            objects[0]["first_direction"] = actor.first_direction
        if still is not None:
            objects.append({"role": "still", "shape": still.shape, "color": still.color, "action": "StaysStill"})
        track = [
            [round(s.x * size, 2), round(s.y * size, 2), round(s.radius * size, 2)] if s.visible else None
            for s in actor.states
        ]
        clips[r.video_id] = {
            "split": r.split,
            "ucf_path": r.ucf_path,
            "label": r.label,
            "frame_labels": list(r.frame_labels),
            "captions": list(r.captions),
            "objects": objects,
            "track": track,
        }
    return {"version": 1, "classes": list(ACTION_CLASSES), "frame_labels": list(FRAME_LABELS), "clips": clips}


def _prepare_directory(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"{out}: directory is not empty; refusing to overwrite it")
        stale = [out / "ucf" / name for name in ("classInd.txt", "frame_labels.json", *UCF_LISTS.values())]
        stale += [out / "msrvtt" / "videodatainfo.json", out / "truth.json", out / "manifest.json"]
        stale += [p for action in ACTION_CLASSES for p in (out / "ucf" / action).glob(f"v_{action}_g*_c*.avi")]
        stale += list((out / "msrvtt" / "videos").glob("video*.mp4"))
        for path in stale:
            path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
