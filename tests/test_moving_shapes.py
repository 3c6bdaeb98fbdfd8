"""Moving-shapes world: clips, labels, determinism, the files' formats and ``mmrnn data shapes-video``.

The caption language and the truth checker are tested in test_moving_shapes_truth.py.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import apps.cli
from multimodal_rnn.config import config_from_dict
from multimodal_rnn.datasets.moving_shapes import (
    ACTION_CLASSES,
    FRAME_LABELS,
    MOTION_CLASSES,
    MovingShapesConfig,
    generate_moving_shapes,
)
from multimodal_rnn.datasets.moving_shapes.clips import TIME_REVERSED, extent, frame_labels, make_clip
from multimodal_rnn.datasets.moving_shapes.render import render_clip
from multimodal_rnn.datasets.moving_shapes.world import clip_records, truth_file
from multimodal_rnn.errors import ConfigError, InputError
from multimodal_rnn.files import atomic_write, deferred_sync
from multimodal_rnn.video import read_clip

TINY = MovingShapesConfig(seed=5, train_size=24, val_size=12, test_size=12, frame_size=32)
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("moving_shapes")
    generate_moving_shapes(out, TINY)
    return out


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _text_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.suffix in (".json", ".txt")}


def _videos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".avi", ".mp4"))


def test_same_seed_gives_the_same_files_and_frames_and_another_seed_differs(world: Path, tmp_path: Path) -> None:
    generate_moving_shapes(tmp_path / "again", TINY)
    first, second = _text_files(world), _text_files(tmp_path / "again")
    assert len(first) == 8  # classInd, 3 lists, frame labels, videodatainfo, truth, manifest
    assert first == second
    videos = _videos(world)
    assert len(videos) == 2 * 48
    assert [p.relative_to(world) for p in videos] == [
        p.relative_to(tmp_path / "again") for p in _videos(tmp_path / "again")
    ]
    for path in videos[:: len(videos) // 6]:  # decoded frames are equal too
        again = read_clip(tmp_path / "again" / path.relative_to(world))
        assert np.array_equal(read_clip(path).frames, again.frames)
    other = MovingShapesConfig(seed=6, train_size=24, val_size=12, test_size=12, frame_size=32)
    assert truth_file(clip_records(other), 32) != _load(world / "truth.json")


def test_val_and_test_clips_do_not_depend_on_the_train_size() -> None:
    small = MovingShapesConfig(seed=5, train_size=7, val_size=12, test_size=12)
    ours = [r for r in clip_records(TINY) if r.split != "train"]
    theirs = [r for r in clip_records(small) if r.split != "train"]
    assert [(r.clip, r.captions) for r in ours] == [(r.clip, r.captions) for r in theirs]


def test_classes_take_turns_so_every_split_is_balanced() -> None:
    records = clip_records(MovingShapesConfig(train_size=36, val_size=13, test_size=12))
    for split, size in (("train", 36), ("val", 13), ("test", 12)):
        counts = Counter(r.label for r in records if r.split == split)
        assert sum(counts.values()) == size and max(counts.values()) - min(counts.values(), default=0) <= 1
    assert [r.video_id for r in records] == [f"video{i}" for i in range(61)]


@pytest.mark.parametrize("frames", [8, 16, 64])
def test_every_class_keeps_its_objects_in_the_frame_apart_and_labels_what_changes(frames: int) -> None:
    config = MovingShapesConfig(num_frames=frames, still_object_probability=1.0)
    for seed in range(6):
        for action in ACTION_CLASSES:
            clip = make_clip(random.Random(f"{seed}/{action}"), action, config)
            states = clip.actor.states
            labels = frame_labels(states)
            assert len(states) == len(labels) == frames and set(labels) <= set(FRAME_LABELS)
            for s in states:
                reach = extent(clip.actor.shape, s.radius)
                assert 0.0 < s.x - reach and s.x + reach < 1.0 and 0.0 < s.y - reach and s.y + reach < 1.0
                if clip.still is not None and s.visible:
                    gap = np.hypot(s.x - clip.still.x, s.y - clip.still.y)
                    assert gap > reach + extent(clip.still.shape, clip.still.radius)
            if action == "StaysStill":
                assert set(labels) == {"still"}
                continue
            assert len(set(labels)) >= 2, f"{action}: the frame labels never change"
            if action in ("MovesLeft", "MovesRight", "MovesUp", "MovesDown", "Grows", "Shrinks", "ChangesColor"):
                assert labels[:2] == labels[-2:] == ("still", "still"), f"{action}: {labels}"


def test_frame_labels_follow_the_track(world: Path) -> None:
    expected = {
        "MovesLeft": "moving left",
        "MovesRight": "moving right",
        "MovesUp": "moving up",
        "MovesDown": "moving down",
        "Grows": "growing",
        "Shrinks": "shrinking",
        "ChangesColor": "changing color",
    }
    for entry in _load(world / "truth.json")["clips"].values():
        labels, track = entry["frame_labels"], entry["track"]
        assert [label == "absent" for label in labels] == [point is None for point in track]
        if entry["label"] in expected:
            assert set(labels) == {"still", expected[entry["label"]]}
        for t in range(1, len(labels)):
            if labels[t] == "moving left":
                assert track[t][0] < track[t - 1][0]
            if labels[t] == "moving down":
                assert track[t][1] > track[t - 1][1]
            if labels[t] == "growing":
                assert track[t][2] > track[t - 1][2]


def test_motion_classes_come_in_time_reversed_pairs() -> None:
    assert set(MOTION_CLASSES) == set(TIME_REVERSED) and len(MOTION_CLASSES) == 8
    assert all(TIME_REVERSED[TIME_REVERSED[c]] == c for c in MOTION_CLASSES)
    assert "StaysStill" not in MOTION_CLASSES and 10 <= len(ACTION_CLASSES) <= 20


def test_rendered_frames_show_the_actor_where_the_truth_puts_it() -> None:
    config = MovingShapesConfig(still_object_probability=0.0)
    clip = make_clip(random.Random(1), "Disappears", config)
    frames = render_clip(clip, 64).astype(np.int16)
    assert frames.shape == (16, 64, 64, 3)
    background = np.array(clip.background)
    for frame, state in zip(frames, clip.actor.states):
        y, x = int(state.y * 64), int(state.x * 64)
        assert (np.abs(frame[y, x] - background).max() > 40) == state.visible


def test_ucf_layout(world: Path) -> None:
    ucf = world / "ucf"
    classes = (ucf / "classInd.txt").read_text().splitlines()
    assert classes == [f"{i} {name}" for i, name in enumerate(ACTION_CLASSES, start=1)]
    train = [line.split() for line in (ucf / "trainlist01.txt").read_text().splitlines()]
    assert len(train) == 24 and all(len(parts) == 2 for parts in train)
    for path, index in train:
        name = ACTION_CLASSES[int(index) - 1]
        assert path.startswith(f"{name}/v_{name}_g") and path.endswith(".avi") and (ucf / path).is_file()
    listed = {path for path, _ in train}
    for split, size in (("val", 12), ("test", 12)):
        paths = (ucf / f"{split}list01.txt").read_text().splitlines()
        assert len(paths) == size and all((ucf / p).is_file() and " " not in p for p in paths)
        groups = {p.rsplit("_c", 1)[0] for p in paths}
        assert not groups & {p.rsplit("_c", 1)[0] for p in listed}  # a group never spans two splits
        listed |= set(paths)
    assert len(listed) == 48 == len(list(ucf.glob("*/*.avi")))
    labels = _load(ucf / "frame_labels.json")
    assert labels["version"] == 1 and labels["classes"] == list(FRAME_LABELS)
    assert set(labels["videos"]) == listed
    clip = read_clip(ucf / train[0][0])
    assert clip.frames.shape == (16, 32, 32, 3) and clip.fps == 8.0
    assert len(labels["videos"][train[0][0]]["frames"]) == 16


def test_msrvtt_layout_and_truth(world: Path) -> None:
    info = _load(world / "msrvtt" / "videodatainfo.json")
    assert Counter(v["split"] for v in info["videos"]) == {"train": 24, "validate": 12, "test": 12}
    ids = [v["video_id"] for v in info["videos"]]
    assert ids == [f"video{i}" for i in range(48)] and all(v["end time"] == 2.0 for v in info["videos"])
    for video_id in ids:
        assert (world / "msrvtt" / "videos" / f"{video_id}.mp4").is_file()
    captions = Counter(s["video_id"] for s in info["sentences"])
    assert set(captions) == set(ids) and min(captions.values()) >= 2
    assert [s["sen_id"] for s in info["sentences"]] == list(range(len(info["sentences"])))
    truth = _load(world / "truth.json")
    assert set(truth["clips"]) == set(ids)
    for video_id, entry in truth["clips"].items():
        assert (world / "ucf" / entry["ucf_path"]).is_file()
        assert entry["label"] == entry["ucf_path"].split("/")[0] == entry["objects"][0]["action"]
        assert sorted(entry["captions"]) == sorted(s["caption"] for s in info["sentences"] if s["video_id"] == video_id)
    rendered = render_clip(clip_records(TINY)[0].clip, 32).astype(int)
    mp4 = read_clip(world / "msrvtt" / "videos" / "video0.mp4").frames
    avi = read_clip(world / "ucf" / truth["clips"]["video0"]["ucf_path"]).frames
    assert mp4.shape == avi.shape == rendered.shape == (16, 32, 32, 3)
    assert np.abs(mp4 - rendered).mean() < 4 and np.abs(avi - rendered).mean() < 8  # the same clip, two codecs


def test_every_change_between_frames_survives_both_codecs(world: Path) -> None:
    """What the frame labels say changed is visible in the decoded files too (no frozen frames)."""
    truth = _load(world / "truth.json")["clips"]
    for record in clip_records(TINY)[:16]:
        rendered = render_clip(record.clip, 32).astype(int)
        for path in (
            world / "ucf" / truth[record.video_id]["ucf_path"],
            world / "msrvtt" / "videos" / f"{record.video_id}.mp4",
        ):
            decoded = read_clip(path).frames.astype(int)
            assert np.abs(decoded - rendered).mean() < 6, path
            for t in range(1, len(rendered)):
                if np.abs(rendered[t] - rendered[t - 1]).max() > 20:
                    assert np.abs(decoded[t] - decoded[t - 1]).max() > 10, (path, t, record.frame_labels[t])


def test_json_is_written_with_sorted_keys_and_the_manifest_holds_the_config(world: Path) -> None:
    for path in [*world.glob("*.json"), *world.glob("*/*.json")]:
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    manifest = _load(world / "manifest.json")
    assert config_from_dict(MovingShapesConfig, manifest["config"]) == TINY
    assert manifest["classes"] == list(ACTION_CLASSES) and manifest["motion_classes"] == list(MOTION_CLASSES)
    assert manifest["splits"]["val"]["clips"] == 12 and 15 < len(manifest["caption_vocabulary"]) < 80


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_frames": 7}, "num_frames must be in 8..64"),
        ({"frame_size": 33}, "even number of pixels"),
        ({"frame_size": 512}, "even number of pixels"),
        ({"fps": 0}, "fps must be in 1..60"),
        ({"train_size": 0, "val_size": 0, "test_size": 0}, "nothing to generate"),
        ({"val_size": -1}, "val_size must be >= 0"),
        ({"still_object_probability": 1.5}, "still_object_probability"),
    ],
)
def test_config_bounds(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MovingShapesConfig(**changes)


def test_overwrite_replaces_only_a_previous_world(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    config = MovingShapesConfig(train_size=12, val_size=0, test_size=0, frame_size=32, num_frames=8)
    with pytest.raises(InputError, match="not empty"):
        generate_moving_shapes(tmp_path, config)
    generate_moving_shapes(
        tmp_path,
        MovingShapesConfig(train_size=24, val_size=0, test_size=0, frame_size=32, num_frames=8),
        overwrite=True,
    )
    summary = generate_moving_shapes(tmp_path, config, overwrite=True)
    assert len(list((tmp_path / "ucf").glob("*/*.avi"))) == 12 == len(list((tmp_path / "msrvtt" / "videos").iterdir()))
    assert (tmp_path / "notes.txt").read_text() == "keep me" and summary["splits"]["train"]["clips"] == 12
    with pytest.raises(InputError, match="not a directory"):
        generate_moving_shapes(tmp_path / "notes.txt", config)


def test_deferred_sync_still_renames_whole_files_into_place(tmp_path: Path) -> None:
    with deferred_sync():
        atomic_write(tmp_path / "a.txt", lambda tmp: Path(tmp).write_text("whole"))
        with pytest.raises(RuntimeError):
            atomic_write(tmp_path / "b.txt", lambda tmp: (_ for _ in ()).throw(RuntimeError("broken")))
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and (tmp_path / "a.txt").read_text() == "whole"


def test_data_shapes_video_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(apps.cli, "COMMANDS", ("data",))  # independent of the other subcommands
    out = tmp_path / "world"
    argv = ["data", "shapes-video", "--out", str(out), "--train", "12", "--val", "2", "--test", "2"]
    argv += ["--frames", "8", "--size", "32", "--fps", "4", "--seed", "3"]
    assert apps.cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "moving-shapes world written to" in printed and "12 clips" in printed and "MSR-VTT layout" in printed
    assert len((out / "ucf" / "trainlist01.txt").read_text().splitlines()) == 12
    clip = read_clip(out / "msrvtt" / "videos" / "video13.mp4")
    assert clip.frames.shape == (8, 32, 32, 3) and clip.fps == 4.0
    assert apps.cli.main(argv) == 2
    assert "not empty" in capsys.readouterr().err
    assert apps.cli.main(argv + ["--force"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        apps.cli.main([*argv[:-6], "--size", "34", "--frames", "65", "--force"])
    assert "--frames: must be an integer from 8 to 64" in capsys.readouterr().err
    assert apps.cli.main([*argv[:-6], "--size", "33", "--force"]) == 2
    assert "--size 33: must be even" in capsys.readouterr().err
