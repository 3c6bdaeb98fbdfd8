"""The input and output boundary of multimodal_rnn/files.py and its users, function by function
(the command-line view of the same checks is tests/test_bad_input_corpus.py)."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from apps.cli import main, os_error_line
from multimodal_rnn.checkpoint import load_model, save_checkpoint, write_safetensors
from multimodal_rnn.config import MAX_CONFIG_SIZE, config_from_dict, override_config
from multimodal_rnn.errors import CheckpointError, ConfigError, DataFormatError, InputError
from multimodal_rnn.files import (
    MAX_JSON_DEPTH,
    check_input_file,
    check_output_dir,
    check_output_file,
    json_depth,
    loads_json,
    open_input,
    read_json,
    remove_stale_temporaries,
)
from multimodal_rnn.images import DECODE_MIN_SIDE, MAX_ASPECT_RATIO, load_image_bytes
from multimodal_rnn.registry import ModelEntry, Registry


def test_json_depth_limit_is_exact() -> None:
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(loads_json(ok, where="x", max_bytes=1000), limit=MAX_JSON_DEPTH) == MAX_JSON_DEPTH
    for depth in (MAX_JSON_DEPTH + 1, 50_000):
        with pytest.raises(DataFormatError, match="x: JSON nested deeper than the limit of 64"):
            loads_json("[" * depth + "]" * depth, where="x", max_bytes=10**6)
    assert json_depth({"a": [{"b": []}], "c": 1}, limit=10) == 4 and json_depth(3, limit=10) == 0


def test_json_size_limit_and_encoding(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="x: JSON of 12 bytes is over the limit of 10 bytes"):
        loads_json("[1, 2, 3, 4]", where="x", max_bytes=10)
    path = tmp_path / "a.json"
    path.write_bytes(b"[1, 2, 3, 4]")
    with pytest.raises(InputError, match="a.json: file of 12 bytes is over the limit of 10 bytes"):
        read_json(path, max_bytes=10)
    path.write_bytes(b'["\xff"]')
    with pytest.raises(DataFormatError, match="not UTF-8"):
        read_json(path)


def test_input_checks_refuse_fifos_without_blocking_and_name_permissions(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="pipe: is a FIFO, expected a regular image file"):
        open_input(fifo, what="image file")
    with pytest.raises(CheckpointError, match="/dev/zero: is a device"):
        check_input_file("/dev/zero", error=CheckpointError)
    good = tmp_path / "good.bin"
    good.write_bytes(b"12345")
    assert check_input_file(good) == 5
    with open_input(good) as handle:
        assert handle.read() == b"12345"
    if os.geteuid() != 0:  # root reads anything
        good.chmod(0)
        with pytest.raises(InputError, match="good.bin: cannot read file \\(Permission denied\\)"):
            open_input(good)


def test_output_checks(tmp_path: Path) -> None:
    new = check_output_file(tmp_path / "new" / "deeper" / "out.png", suffixes=(".png",))
    assert new == tmp_path / "new" / "deeper" / "out.png"
    assert list(tmp_path.iterdir()) == []  # nothing created (the write makes the folders), probe removed
    with pytest.raises(InputError, match="unknown extension '.bmpx'"):
        check_output_file(tmp_path / "x.bmpx", suffixes=(".png",))
    with pytest.raises(InputError, match="is a directory"):
        check_output_file(tmp_path, suffixes=(".png",))
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(InputError, match="is a file, expected a folder"):
        check_output_dir(afile)
    with pytest.raises(InputError, match="afile is a file, not a folder"):
        check_output_dir(afile / "run")
    with pytest.raises(InputError, match="cannot write in /proc"):
        check_output_file("/proc/mmrnn-test.json")
    run = check_output_dir(tmp_path / "run")
    assert not run.exists()
    run.mkdir()
    for name in (".last.safetensors.abc123.tmp", ".metrics.json.x.tmp", "keep.tmp", ".hidden", ".fresh.json.y.tmp"):
        (run / name).write_text("stale")
        if name != ".fresh.json.y.tmp":
            os.utime(run / name, (1e9, 1e9))
    assert remove_stale_temporaries(run) == 2
    assert sorted(p.name for p in run.iterdir()) == [".fresh.json.y.tmp", ".hidden", "keep.tmp"]  # a write under way


def test_train_out_folder_notes_the_stale_temporaries_it_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / ".last.safetensors.k1ll3d.tmp").write_bytes(b"half")
    os.utime(run / ".last.safetensors.k1ll3d.tmp", (1e9, 1e9))
    assert (
        main(
            [
                "train",
                "caption",
                "--out",
                str(run),
                "--coco-train",
                str(tmp_path / "none.json"),
                str(tmp_path),
                "--coco-val",
                str(tmp_path / "none.json"),
                str(tmp_path),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"{run}: removed 1 temporary file(s) left by an interrupted write" in err
    assert list(run.iterdir()) == []


def test_aspect_ratio_limit_and_jpeg_draft() -> None:
    def png(size: tuple[int, int]) -> bytes:
        buffer = io.BytesIO()
        Image.new("L", size, 128).save(buffer, format="PNG")
        return buffer.getvalue()

    assert load_image_bytes(png((MAX_ASPECT_RATIO * 3, 3))).size == (60, 3)
    with pytest.raises(InputError, match="61x3, one side over 20 times the other"):
        load_image_bytes(png((MAX_ASPECT_RATIO * 3 + 1, 3)))
    buffer = io.BytesIO()
    Image.new("RGB", (2 * DECODE_MIN_SIDE + 6, 2 * DECODE_MIN_SIDE), (10, 200, 30)).save(buffer, format="JPEG")
    image = load_image_bytes(buffer.getvalue())
    assert image.size == (DECODE_MIN_SIDE + 3, DECODE_MIN_SIDE) and image.mode == "RGB"
    small = io.BytesIO()
    Image.new("RGB", (300, 200)).save(small, format="JPEG")
    assert load_image_bytes(small.getvalue()).size == (300, 200)  # small JPEGs are decoded as they are


@dataclass(frozen=True)
class SizesConfig:
    hidden_size: int = 3
    num_layers: int = 1
    num_heads: int = 0
    offset: int = 0
    scale: float = 1.0


class Sized(nn.Module):
    def __init__(self, config: SizesConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)


def test_config_bounds_apply_to_every_config_and_override() -> None:
    for changes, message in [
        ({"hidden_size": -4}, "hidden_size: must be an integer from 1 to 16777216, got -4"),
        ({"hidden_size": MAX_CONFIG_SIZE + 1}, "from 1 to 16777216"),
        ({"num_layers": 0}, "num_layers: must be an integer from 1"),
        ({"num_heads": -1}, "num_heads: must be an integer from 0 to 16777216"),
        ({"offset": -1}, "offset: must be an integer from 0 to 2147483647"),
        ({"scale": float("inf")}, "scale: expected a finite number, got inf"),
    ]:
        with pytest.raises(ConfigError, match=message):
            config_from_dict(SizesConfig, changes, where="c")
        with pytest.raises(ConfigError, match=message):
            override_config(SizesConfig(), changes)
    assert config_from_dict(SizesConfig, {"hidden_size": MAX_CONFIG_SIZE, "offset": 0}).hidden_size == MAX_CONFIG_SIZE


def test_models_over_the_memory_limit_are_refused_before_allocating(tmp_path: Path) -> None:
    registry = Registry([ModelEntry("sized", "toy", SizesConfig, Sized)])
    with pytest.raises(ConfigError, match=r"sized config: the model would take 1024\.0 GiB of parameters"):
        registry.build("sized", {"hidden_size": 2**19})  # 2**38 weights of 4 bytes: allocating would fail
    assert registry.shapes("sized", SizesConfig(hidden_size=2)) == {
        "proj.weight": (torch.float32, (2, 2)),
        "proj.bias": (torch.float32, (2,)),
    }
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, Sized(SizesConfig()), task="toy", model_name="sized", model_config={"hidden_size": 2**19})
    with pytest.raises(CheckpointError, match="m.safetensors: sized config: the model would take"):
        load_model(path, registry=registry)


def test_write_errors_name_the_file(tmp_path: Path) -> None:
    from safetensors import SafetensorError

    def full_disk(tmp: str) -> None:
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )

    with pytest.raises(CheckpointError, match="m.safetensors: cannot write the checkpoint .*No space left on device"):
        write_safetensors(tmp_path / "m.safetensors", full_disk, noun="checkpoint")

    def unnamed(tmp: str) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError) as info:
        write_safetensors(tmp_path / "s.safetensors", unnamed, noun="training state")
    assert os_error_line(info.value) == f"{tmp_path / 's.safetensors'}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_an_os_error_in_a_command_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from multimodal_rnn.tasks.caption import evaluation

    def unreadable(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", "/data/captions_val.json")

    monkeypatch.setattr(evaluation, "evaluate_captions", unreadable)
    status = main(["eval", "caption", "--results", "r.json", "--annotations", "a.json", "--no-meteor"])
    assert (status, capsys.readouterr().err) == (2, "mmrnn: error: /data/captions_val.json: Permission denied\n")


def test_dialog_history_field_is_parsed_within_the_json_limits() -> None:
    from multimodal_rnn.tasks.dialog.serving import parse_history
    from multimodal_rnn.tasks.protocol import FieldError

    with pytest.raises(FieldError, match="^history: JSON nested deeper than the limit of 64 levels$"):
        parse_history("[" * 5_000 + "]" * 5_000, max_rounds=10, max_chars=200)
    with pytest.raises(FieldError, match="^history: JSON of .* bytes is over the limit"):
        parse_history(json.dumps([["q", "a" * 5000]] * 20), max_rounds=2, max_chars=200)
    with pytest.raises(FieldError, match="^history: malformed JSON"):
        parse_history("[{", max_rounds=10, max_chars=200)


def test_save_image_makes_missing_folders_and_writes_the_extensions_format(tmp_path: Path) -> None:
    from PIL import Image

    from multimodal_rnn.images import save_image

    image = Image.new("RGBA", (8, 6), (255, 0, 0, 128))
    for name, image_format in (("a/b/map.png", "PNG"), ("c/map.jpg", "JPEG")):
        save_image(image, tmp_path / name)
        with Image.open(tmp_path / name) as saved:
            assert (saved.format, saved.size) == (image_format, (8, 6))
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["map.png"]  # no temporary left
