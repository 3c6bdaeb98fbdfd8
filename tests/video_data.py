"""Tiny generated clips and datasets for the video tests: a clip of ``T`` frames of 16 x 16 whose
frame ``t`` is a flat gray of level ``16 * t`` (so a frame's index can be read back from its
pixels, even through a lossy codec), written with ``multimodal_rnn.video.write_clip``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from multimodal_rnn.video import write_clip

SIZE = 16


def gray_frames(num_frames: int, size: int = SIZE) -> np.ndarray:
    """(T, size, size, 3) uint8, frame t of level 16 * t (mod 256)."""
    levels = (np.arange(num_frames) * 16 % 256).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, size, size, 3)).copy()


def frame_numbers(frames: np.ndarray) -> list[int]:
    """The frame numbers :func:`gray_frames` wrote, read back from the mean level of each frame."""
    return [int(round(float(frame.mean()) / 16)) for frame in frames]


def write_gray_clip(path: Path, num_frames: int = 8, *, fps: float = 8.0) -> Path:
    write_clip(path, gray_frames(num_frames), fps=fps)
    return path


def make_ucf(root: Path, *, frames: int = 6) -> Path:
    """A two-class UCF-101 layout: 3 train videos, 2 test, 1 val; frame labels JSON too."""
    root.mkdir(parents=True, exist_ok=True)
    classes = ["Jump", "Run"]
    (root / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(classes, 1)))
    train = ["Jump/v_Jump_g01_c01.avi", "Jump/v_Jump_g02_c01.avi", "Run/v_Run_g01_c01.avi"]
    test = ["Jump/v_Jump_g03_c01.avi", "Run/v_Run_g03_c01.avi"]
    val = ["Run/v_Run_g04_c01.avi"]
    for relative in train + test + val:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        write_gray_clip(root / relative, frames)
    (root / "trainlist01.txt").write_text("".join(f"{r} {1 + classes.index(r.split('/')[0])}\r\n" for r in train))
    (root / "testlist01.txt").write_text("".join(f"{r}\n" for r in test))
    (root / "vallist01.txt").write_text("".join(f"{r}\n" for r in val))
    labels = {
        r: {"frames": ["still"] * (frames // 2) + ["moving"] * (frames - frames // 2)} for r in train + test + val
    }
    (root / "frame_labels.json").write_text(json.dumps({"version": 1, "videos": labels}))
    return root


def make_msrvtt(root: Path) -> Path:
    """``videodatainfo.json`` with one video per split and ``videos/`` (mp4 and mkv)."""
    (root / "videos").mkdir(parents=True)
    write_gray_clip(root / "videos" / "video0.mp4", 8)
    write_gray_clip(root / "videos" / "video1.mkv", 5)
    write_gray_clip(root / "videos" / "video2.mp4", 4)
    info = {
        "info": {"year": 2016},
        "videos": [
            {"video_id": "video0", "split": "train", "category": 1},
            {"video_id": "video1", "split": "validate"},
            {"video_id": "video2", "split": "test"},
        ],
        "sentences": [
            {"video_id": "video0", "caption": "a gray square gets lighter", "sen_id": 0},
            {"video_id": "video1", "caption": "the screen brightens", "sen_id": 1},
            {"video_id": "video0", "caption": "it fades in", "sen_id": 2},
        ],
    }
    (root / "videodatainfo.json").write_text(json.dumps(info))
    return root
