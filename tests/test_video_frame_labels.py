"""Per-frame labels: JSON and CSV, one label a frame or Charades-like segments in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodal_rnn.datasets.video_formats import read_frame_labels, segments_to_frames
from multimodal_rnn.errors import DataFormatError
from tests.video_data import write_gray_clip


def test_segments_to_frames_rule() -> None:
    # 8 fps: frame i at i/8 s; [0.25, 0.5) holds frames 2 and 3; the later segment wins an overlap
    labels = segments_to_frames([(0.25, 0.5, "a"), (0.5, 1.0, "b"), (0.875, 2.0, "c")], fps=8, total_frames=10)
    assert labels == ("background", "background", "a", "a", "b", "b", "b", "c", "c", "c")
    assert segments_to_frames([], fps=8, total_frames=2, background="none") == ("none", "none")


def test_json_frames_and_segments_with_header_values(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "classes": ["x", "y", "background"],
                "videos": {
                    "a.avi": {"frames": ["x", "y"]},
                    "b.avi": {"fps": 4, "frames_total": 4, "segments": [[0, 0.5, "y"]]},
                },
            }
        )
    )
    labels = read_frame_labels(path)
    assert labels.videos == {"a.avi": ("x", "y"), "b.avi": ("y", "y", "background", "background")}
    assert labels.classes == ("x", "y", "background")


def test_json_segments_read_fps_and_frames_from_the_video(tmp_path: Path) -> None:
    write_gray_clip(tmp_path / "clips" / "c.mp4", 6, fps=4)
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"videos": {"c.mp4": {"segments": [[0.5, 10, "late"]]}}}))
    labels = read_frame_labels(path, videos_dir=tmp_path / "clips")
    assert labels.videos["c.mp4"] == ("background",) * 2 + ("late",) * 4
    assert labels.classes == ("background", "late")


def test_csv_per_frame_and_segments(tmp_path: Path) -> None:
    frames = tmp_path / "frames.csv"
    frames.write_text("video,frame,label\nv1,1,run\nv1,0,walk\nv2,0,sit\n")
    assert read_frame_labels(frames).videos == {"v1": ("walk", "run"), "v2": ("sit",)}
    write_gray_clip(tmp_path / "v3.avi", 4, fps=2)
    segments = tmp_path / "segments.csv"
    segments.write_text("video,start,end,label\nv3.avi,0,1,open\nv3.avi,1,2,close\n")
    assert read_frame_labels(segments).videos == {"v3.avi": ("open", "open", "close", "close")}


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("a.json", '{"videos": {"v": {"frames": []}}}', "'frames' must be a non-empty list"),
        ("a.json", '{"videos": {"v": {"frames": ["a", 1]}}}', "'frames' must be a non-empty list"),
        ("a.json", '{"videos": {"v": {}}}', "expected 'frames' or 'segments'"),
        ("a.json", '{"videos": {"v": {"fps": 8, "frames_total": 4, "segments": [[2, 1, "a"]]}}}', "0 <= start <= end"),
        ("a.json", '{"videos": {"v": {"fps": 8, "frames_total": 4, "segments": [[0, "x", "a"]]}}}', "start_s, end_s"),
        ("a.json", '{"videos": {"v": {"fps": 0, "frames_total": 4, "segments": []}}}', "'fps' must be a positive"),
        ("a.json", '{"classes": ["a"], "videos": {"v": {"frames": ["b"]}}}', "label(s) 'b' not in 'classes'"),
        ("a.json", '{"videos": {}}', "no videos"),
        ("a.json", "[]", "expected a JSON object with a 'videos' object"),
        ("a.csv", "video,label\nv,a\n", "header must be"),
        ("a.csv", "video,frame,label\nv,0,a\nv,2,b\n", "no label for frame(s) 1"),
        ("a.csv", "video,frame,label\nv,0,a\nv,0,b\n", "line 3: frame 0 of 'v' is labelled twice"),
        ("a.csv", "video,frame,label\nv,first,a\n", "line 2: frame 'first' is not a frame number"),
        ("a.csv", "video,frame,label\nv,0\n", "line 2: expected 3 fields, got 2"),
        ("a.csv", 'video,frame,label\nv,0,a\nv,1,"' + "x" * 200_000 + '"\n', "line 3: malformed CSV (field larger"),
    ],
)
def test_malformed_labels_are_one_line_naming_the_file(tmp_path: Path, name: str, text: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataFormatError) as caught:
        read_frame_labels(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and problem in message and "\n" not in message
