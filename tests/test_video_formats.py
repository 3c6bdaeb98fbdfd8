"""The video format readers on tiny generated datasets: UCF-101 / HMDB-51, MSR-VTT, MSVD."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal_rnn.datasets.video_formats import (
    VideoRecord,
    read_hmdb51,
    read_msrvtt,
    read_msvd,
    read_ucf101,
    read_ucf_classes,
    video_references,
)
from multimodal_rnn.errors import DataFormatError, InputError
from tests.video_data import make_msrvtt, make_ucf, write_gray_clip


@pytest.fixture(scope="module")
def ucf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ucf(tmp_path_factory.mktemp("ucf"))


def test_ucf101_splits_labels_and_paths(ucf: Path) -> None:
    train = read_ucf101(ucf)
    assert [r.video_id for r in train] == [
        "Jump/v_Jump_g01_c01.avi",
        "Jump/v_Jump_g02_c01.avi",
        "Run/v_Run_g01_c01.avi",
    ]
    assert [r.label for r in train] == ["Jump", "Jump", "Run"]
    assert all(r.split == "train" and r.path == ucf / r.video_id and r.frame_labels is None for r in train)
    assert [r.label for r in read_ucf101(ucf, split="test")] == ["Jump", "Run"]
    assert [r.video_id for r in read_ucf101(ucf, split="val")] == ["Run/v_Run_g04_c01.avi"]
    assert read_ucf_classes(ucf) == ["Jump", "Run"]


def test_ucf101_frame_labels_attached(ucf: Path) -> None:
    records = read_ucf101(ucf, split="test", frame_labels=ucf / "frame_labels.json")
    assert records[0].frame_labels == ("still",) * 3 + ("moving",) * 3


def test_ucf101_lists_in_the_shipped_subfolder(ucf: Path, tmp_path: Path) -> None:
    videos = tmp_path / "UCF-101"
    (videos / "Jump").mkdir(parents=True)
    write_gray_clip(videos / "Jump" / "v_Jump_g01_c01.avi", 3)
    lists = videos / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Jump\n")
    (lists / "trainlist01.txt").write_text("Jump/v_Jump_g01_c01.avi 1\n")
    assert [r.label for r in read_ucf101(videos)] == ["Jump"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("Jump/v_Jump_g01_c01.avi 2", "class number 2 does not name the folder 'Jump'"),
        ("Jump/v_Jump_g01_c01.avi 9", "class number 9"),
        ("Swim/v_Swim_g01_c01.avi 1", "class folder 'Swim' is not in"),
        ("v_Jump_g01_c01.avi", "expected '<Class>/<video file> [<class number>]'"),
        ("Jump/v_Jump_g01_c01.avi one", "expected '<Class>/<video file>"),
    ],
)
def test_ucf101_bad_lines_name_file_and_line(ucf: Path, tmp_path: Path, line: str, problem: str) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_text((ucf / "classInd.txt").read_text())
    (lists / "trainlist01.txt").write_text(f"Run/v_Run_g01_c01.avi 2\n{line}\n")
    with pytest.raises(DataFormatError, match="line 2: ") as caught:
        read_ucf101(ucf, lists_dir=lists)
    assert problem in str(caught.value) and str(lists / "trainlist01.txt") in str(caught.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1 Jump\n3 Run\n", "class number 3, expected 2"),
        ("1 Jump\n2 Jump\n", "listed twice"),
        ("", "no classes"),
        ("Jump\n", "expected '<number> <class name>'"),
    ],
)
def test_ucf_class_index_checked(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "classInd.txt").write_text(text)
    with pytest.raises(DataFormatError, match=problem):
        read_ucf_classes(tmp_path)


def test_ucf101_refusals(ucf: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown UCF-101 split"):
        read_ucf101(ucf, split="dev")
    with pytest.raises(InputError, match="no such"):
        read_ucf101(ucf, fold=2)
    with pytest.raises(InputError, match="none of the 3 videos"):
        read_ucf101(tmp_path, lists_dir=ucf)
    (tmp_path / "labels.json").write_text('{"version": 1, "videos": {"Jump/v_Jump_g03_c01.avi": {"frames": ["a"]}}}')
    with pytest.raises(DataFormatError, match="no frame labels for video"):
        read_ucf101(ucf, split="test", frame_labels=tmp_path / "labels.json")


def test_hmdb51_split_files(tmp_path: Path) -> None:
    splits = tmp_path / "splits"
    splits.mkdir()
    for label in ("brush_hair", "cartwheel"):
        (tmp_path / "videos" / label).mkdir(parents=True)
        for name in ("a.avi", "b.avi", "c.avi"):
            write_gray_clip(tmp_path / "videos" / label / name, 3)
        (splits / f"{label}_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    train = read_hmdb51(tmp_path / "videos", splits)
    assert [(r.video_id, r.label) for r in train] == [
        ("brush_hair/a.avi", "brush_hair"),
        ("cartwheel/a.avi", "cartwheel"),
    ]
    assert [r.video_id for r in read_hmdb51(tmp_path / "videos", splits, split="test")] == [
        "brush_hair/b.avi",
        "cartwheel/b.avi",
    ]
    (splits / "cartwheel_test_split1.txt").write_text("a.avi 3\n")
    with pytest.raises(DataFormatError, match=r"cartwheel_test_split1.txt: line 1: expected '<video file> <0\|1\|2>'"):
        read_hmdb51(tmp_path / "videos", splits)


def test_msrvtt_splits_captions_and_any_extension(tmp_path: Path) -> None:
    root = make_msrvtt(tmp_path)
    info, videos = root / "videodatainfo.json", root / "videos"
    train = read_msrvtt(info, videos)
    assert train == [
        VideoRecord(
            "video0", videos / "video0.mp4", captions=("a gray square gets lighter", "it fades in"), split="train"
        )
    ]
    (val,) = read_msrvtt(info, videos, split="val")
    assert val.path == videos / "video1.mkv" and val.captions == ("the screen brightens",) and val.split == "validate"
    assert read_msrvtt(info, videos, split="test")[0].captions == ()
    assert [r.video_id for r in read_msrvtt(info, videos, split=None)] == ["video0", "video1", "video2"]
    assert video_references(read_msrvtt(info, videos, split=None)) == {
        "video0": ["a gray square gets lighter", "it fades in"],
        "video1": ["the screen brightens"],
    }


def test_msrvtt_missing_videos_kept_or_skipped(tmp_path: Path) -> None:
    root = make_msrvtt(tmp_path)
    (root / "videos" / "video2.mp4").unlink()
    (missing,) = read_msrvtt(root / "videodatainfo.json", root / "videos", split="test")
    assert missing.path == root / "videos" / "video2.mp4" and not missing.path.exists()
    assert len(read_msrvtt(root / "videodatainfo.json", root / "videos", split=None, skip_missing=True)) == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"videos": []}', r"missing key\(s\) 'sentences'"),
        ('{"videos": [{"id": 1}], "sentences": []}', r"videos\[0\] needs a string 'video_id'"),
        ('{"videos": [{"video_id": "v", "split": "dev"}], "sentences": []}', "has split 'dev'"),
        ('{"videos": [{"video_id": "v"}, {"video_id": "v"}], "sentences": []}', "listed twice"),
        ('{"videos": [{"video_id": "v"}], "sentences": [{"video_id": "w", "caption": "x"}]}', "not in 'videos'"),
        ('{"videos": [{"video_id": "v"}], "sentences": [{"video_id": "v"}]}', r"sentences\[0\] needs"),
        ("[1, 2", "malformed JSON"),
    ],
)
def test_msrvtt_malformed(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "info.json").write_text(text)
    with pytest.raises(DataFormatError, match=problem) as caught:
        read_msrvtt(tmp_path / "info.json", tmp_path, split=None)
    assert str(tmp_path / "info.json") in str(caught.value)


def test_msrvtt_wrong_folder(tmp_path: Path) -> None:
    root = make_msrvtt(tmp_path / "m")
    with pytest.raises(InputError, match="none of the 3 videos"):
        read_msrvtt(root / "videodatainfo.json", tmp_path)
    with pytest.raises(InputError, match="no such videos folder"):
        read_msrvtt(root / "videodatainfo.json", tmp_path / "nowhere")


def test_msvd_lines_and_ids(tmp_path: Path) -> None:
    write_gray_clip(tmp_path / "-4wsuPCjDBc_5_15.avi", 3)
    write_gray_clip(tmp_path / "abc_1_2.avi", 3)
    captions = tmp_path / "captions.txt"
    captions.write_text(
        "# MSVD\n-4wsuPCjDBc_5_15 a squirrel is eating a peanut\n\nabc_1_2 a man talks\n"
        "-4wsuPCjDBc_5_15 a chipmunk eats\n"
    )
    records = read_msvd(captions, tmp_path)
    assert [(r.video_id, r.captions) for r in records] == [
        ("-4wsuPCjDBc_5_15", ("a squirrel is eating a peanut", "a chipmunk eats")),
        ("abc_1_2", ("a man talks",)),
    ]
    assert records[0].path == tmp_path / "-4wsuPCjDBc_5_15.avi"
    (tmp_path / "test_ids.txt").write_text("abc_1_2\n")
    assert [r.video_id for r in read_msvd(captions, tmp_path, video_ids=tmp_path / "test_ids.txt")] == ["abc_1_2"]
    (tmp_path / "bad_ids.txt").write_text("zzz\n")
    with pytest.raises(DataFormatError, match="'zzz' has no caption"):
        read_msvd(captions, tmp_path, video_ids=tmp_path / "bad_ids.txt")
    captions.write_text("lonely_id\n")
    with pytest.raises(DataFormatError, match=r"captions.txt: line 1: expected '<video_id> <caption>'"):
        read_msvd(captions, tmp_path)
    captions.write_bytes(b"abc_1_2 \xff\xfe\n")
    with pytest.raises(DataFormatError, match="not UTF-8"):
        read_msvd(captions, tmp_path)
