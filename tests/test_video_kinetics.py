"""The Kinetics CSV reader: file names with and without the time range, class folders, splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from multimodal_rnn.datasets.video_formats import kinetics_classes, read_kinetics
from multimodal_rnn.errors import DataFormatError, InputError
from tests.video_data import write_gray_clip

CSV = (
    "label,youtube_id,time_start,time_end,split,is_cc\n"
    "abseiling,aaa,10,20,train,0\n"
    "air drumming,bbb,0,10,train,0\n"
    "abseiling,ccc,5,15,val,0\n"
    "air drumming,gone,1,11,train,0\n"
)


@pytest.fixture
def kinetics(tmp_path: Path) -> Path:
    write_gray_clip(tmp_path / "videos" / "aaa_000010_000020.mp4", 3)
    write_gray_clip(tmp_path / "videos" / "bbb.mkv", 3)
    write_gray_clip(tmp_path / "videos" / "abseiling" / "ccc_000005_000015.avi", 3)
    (tmp_path / "train.csv").write_text(CSV)
    return tmp_path


def test_rows_become_records_with_their_files(kinetics: Path) -> None:
    videos = kinetics / "videos"
    records = read_kinetics(kinetics / "train.csv", videos)
    assert [(r.video_id, r.label, r.split) for r in records] == [
        ("aaa_000010_000020", "abseiling", "train"),
        ("bbb_000000_000010", "air drumming", "train"),
        ("ccc_000005_000015", "abseiling", "val"),
        ("gone_000001_000011", "air drumming", "train"),
    ]
    assert [r.path for r in records[:3]] == [
        videos / "aaa_000010_000020.mp4",
        videos / "bbb.mkv",
        videos / "abseiling" / "ccc_000005_000015.avi",
    ]
    assert not records[3].path.exists()
    assert kinetics_classes(records) == ["abseiling", "air drumming"]


def test_split_and_skip_missing(kinetics: Path) -> None:
    videos = kinetics / "videos"
    assert [r.video_id for r in read_kinetics(kinetics / "train.csv", videos, split="val")] == ["ccc_000005_000015"]
    kept = read_kinetics(kinetics / "train.csv", videos, split="train", skip_missing=True)
    assert [r.video_id for r in kept] == ["aaa_000010_000020", "bbb_000000_000010"]
    with pytest.raises(InputError, match="none of the 4 clips"):
        read_kinetics(kinetics / "train.csv", kinetics, skip_missing=True)


def test_a_test_csv_without_labels(kinetics: Path) -> None:
    (kinetics / "test.csv").write_text("youtube_id,time_start,time_end,split\naaa,10,20,test\n")
    (record,) = read_kinetics(kinetics / "test.csv", kinetics / "videos")
    assert record.label is None and record.split == "test"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("label,youtube_id,split\nx,aaa,train\n", "no column(s) time_start, time_end in the header"),
        ("label,youtube_id,time_start,time_end,split\nx,aaa,ten,20,train\n", "line 2: needs a youtube_id"),
        ("label,youtube_id,time_start,time_end,split\nx,aaa,1.5,20,train\n", "line 2: needs a youtube_id"),
        ("label,youtube_id,time_start,time_end,split\nx,aaa,10,20\n", "line 2: expected 5 fields, got 4"),
        (
            "label,youtube_id,time_start,time_end,split\nx,aaa,10,20,train\nx,aaa,10,20,train\n",
            "line 3: clip aaa_000010_000020 is listed twice",
        ),
        ("", "no column(s)"),
        ("label,youtube_id,time_start,time_end\n" + "x" * 200_000 + ",a,1,2\n", "line 2: malformed CSV"),
    ],
)
def test_malformed_csv(kinetics: Path, text: str, problem: str) -> None:
    (kinetics / "bad.csv").write_text(text)
    with pytest.raises(DataFormatError) as caught:
        read_kinetics(kinetics / "bad.csv", kinetics / "videos")
    assert str(caught.value).startswith(str(kinetics / "bad.csv")) and problem in str(caught.value)
