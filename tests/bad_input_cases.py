"""Bad-input corpus cases, part 1: nested JSON, hostile checkpoint headers, image bombs (see
tests/test_bad_input_corpus.py; each case gives the argv and a text its error line must name)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tests.bad_inputs import (
    DEEP,
    Case,
    TinyCaptionCheckpoint,
    Workspace,
    case,
    deep_json,
    gif_header,
    jpeg_header,
    one,
    png_header,
    sparse_file,
)

# --- nested JSON: deeper than Python can recurse, and just over the documented limit (64) ---------

for _depth in (DEEP, 65):
    _tag = "deep" if _depth == DEEP else "65"
    for _slot, _method in [
        ("results", "eval_caption"),
        ("annotations", "eval_caption"),
        ("questions", "eval_vqa"),
        ("annotations", "eval_vqa"),
        ("results", "eval_vqa"),
        ("dialogs", "eval_dialog"),
        ("results", "eval_dialog"),
    ]:

        def _nested(
            ws: Workspace, slot: str = _slot, method: str = _method, depth: int = _depth
        ) -> tuple[list[str], str]:
            return one(ws, f"{method}-{slot}-{depth}.json", deep_json(depth), getattr(ws, method), slot)

        case("nested JSON", f"{_method.replace('_', ' ')} --{_slot} nested {_tag}")(_nested)


@case("nested JSON", "nested inside a results entry")
def _nested_entry(ws: Workspace) -> tuple[list[str], str]:
    entries = json.loads(ws.caption_files[0].read_text())
    text = json.dumps(entries)[:-1] + ', {"image_id": 99, "caption": "x", "extra": ' + deep_json(80) + "}]"
    return one(ws, "entry-nested.json", text, ws.eval_caption, "results")


@case("nested JSON", "eval caption --scenes nested deep")
def _scenes(ws: Workspace) -> tuple[list[str], str]:
    path = ws.file("scenes-deep.json", deep_json())
    return ws.eval_caption(None, None, "--scenes", str(path)), str(path)


@case("nested JSON", "checkpoint header nested deep")
def _header_deep(ws: Workspace) -> tuple[list[str], str]:
    path = ws.weights.variant("header-deep", metadata=deep_json())
    return ws.caption(ws.image, weights=path), str(path)


@case("nested JSON", "checkpoint header nested 65")
def _header_65(ws: Workspace) -> tuple[list[str], str]:
    path = ws.weights.variant(
        "header-65", metadata=json.dumps({**ws.weights.header, "extra": json.loads(deep_json(65))})
    )
    return ws.caption(ws.image, weights=path), str(path)


@case("nested JSON", "safetensors table nested deep")
def _table_deep(ws: Workspace) -> tuple[list[str], str]:
    table = deep_json().encode()
    path = ws.weights.raw("table-deep", len(table).to_bytes(8, "little") + table)
    return ws.caption(ws.image, weights=path), str(path)


def train_caption(ws: Workspace, *extra: str) -> list[str]:
    """``mmrnn train caption`` on the tiny COCO-format files of the workspace."""
    annotations, images = str(ws.caption_files[1]), str(ws.caption_files[1].parent)
    return [
        "train",
        "caption",
        "--coco-train",
        annotations,
        images,
        "--coco-val",
        annotations,
        images,
        "--out",
        str(ws.root / "run"),
        "--epochs",
        "1",
        *extra,
    ]


@case("nested JSON", "train --set value nested deep")
def _set_deep(ws: Workspace) -> tuple[list[str], str]:
    return train_caption(ws, "--set", "hidden_size=" + deep_json()), "--set hidden_size"


@case("nested JSON", "train --coco-train annotations nested deep")
def _train_annotations(ws: Workspace) -> tuple[list[str], str]:
    path = ws.file("train-deep.json", deep_json())
    argv = train_caption(ws)
    argv[argv.index("--coco-train") + 1] = str(path)
    return argv, str(path)


# --- hostile checkpoint headers -----------------------------------------------------------------


def _weights_case(make: Callable[[TinyCaptionCheckpoint], Path]) -> Case:
    def run(ws: Workspace) -> tuple[list[str], str]:
        path = make(ws.weights)
        return ws.caption(ws.image, weights=path), str(path)

    return run


case("checkpoint headers", "train --set hidden_size=-4")(
    lambda ws: (train_caption(ws, "--set", "hidden_size=-4"), "hidden_size")
)
case("checkpoint headers", "train --set hidden_size=1000000 (16 TB)")(
    lambda ws: (train_caption(ws, "--set", "hidden_size=1000000"), "GiB")
)
case("checkpoint headers", "train --set dropout=NaN")(lambda ws: (train_caption(ws, "--set", "dropout=NaN"), "dropout"))

for _name, _make in {
    "model_config is a list": lambda w: w.header_variant("config-list", model_config=[1, 2]),
    "model_config is null": lambda w: w.header_variant("config-null", model_config=None),
    "hidden_size negative": lambda w: w.config_variant("hidden-negative", hidden_size=-4),
    "hidden_size zero": lambda w: w.config_variant("hidden-zero", hidden_size=0),
    "hidden_size 10**11": lambda w: w.config_variant("hidden-huge", hidden_size=10**11),
    "hidden_size 10**6 (16 TB of weights)": lambda w: w.config_variant("hidden-memory", hidden_size=10**6),
    "vocab_size 10**7 x embed 10**4": lambda w: w.config_variant("vocab-memory", vocab_size=10**7, embed_size=10**4),
    "hidden_size a string": lambda w: w.config_variant("hidden-string", hidden_size="big"),
    "hidden_size true": lambda w: w.config_variant("hidden-bool", hidden_size=True),
    "dropout NaN": lambda w: w.config_variant("dropout-nan", dropout=float("nan")),
    "unknown config key": lambda w: w.config_variant("config-key", depth=3),
    "unknown model name": lambda w: w.header_variant("model-unknown", model_name="gpt5"),
    "model name a list": lambda w: w.header_variant("model-list", model_name=["show_tell"]),
    "task of another model": lambda w: w.header_variant("task-vqa", task="vqa"),
    "format version 99": lambda w: w.header_variant("version", format_version=99),
    "step a list": lambda w: w.header_variant("step-list", step=[1]),
    "vocab a string": lambda w: w.header_variant("vocab-string", vocab="a b c"),
    "no vocabulary": lambda w: w.header_variant("vocab-none", vocab=None),
    "header lacks model_config": lambda w: w.variant(
        "no-config", header={k: v for k, v in w.header.items() if k != "model_config"}
    ),
    "header is a JSON list": lambda w: w.variant("header-list", metadata="[1, 2]"),
    "header not JSON": lambda w: w.variant("header-text", metadata="{not json"),
    "header is NaN": lambda w: w.variant("header-nan", metadata="NaN"),
    "NaN weights": lambda w: w.bad_tensor("nan", float("nan")),
    "infinite weights": lambda w: w.bad_tensor("inf", float("inf")),
    "tensors of another shape": lambda w: w.config_variant("shape", hidden_size=24),
    "missing tensors": lambda w: w.variant(
        "missing", tensors={k: v for i, (k, v) in enumerate(w.tensors.items()) if i}
    ),
    "an extra tensor": lambda w: w.variant("extra", tensors={**w.tensors, "spare": torch.zeros(3)}),
    "truncated in the tensors": lambda w: w.raw("cut-data", w.good.read_bytes()[:-100]),
    "truncated in the header": lambda w: w.raw("cut-header", w.good.read_bytes()[:200]),
    "header length 2**60": lambda w: w.raw("length-huge", (2**60).to_bytes(8, "little") + b"{}"),
    "header over 16 MiB": lambda w: w.raw("length-17m", (17 * 2**20).to_bytes(8, "little") + b"{}"),
    "header length only": lambda w: w.raw("length-only", (10).to_bytes(8, "little")),
    "empty file": lambda w: w.raw("empty", b""),
    "a pickle": lambda w: w.raw("pickle", b"\x80\x04\x95" + b"\x00" * 40),
    "safetensors table is a list": lambda w: w.raw("table-list", (2).to_bytes(8, "little") + b"[]"),
    "tensor with a negative shape": lambda w: w.raw(
        "shape-negative", _table({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}})
    ),
}.items():
    case("checkpoint headers", _name)(_weights_case(_make))


def _table(table: dict[str, Any]) -> bytes:
    raw = json.dumps(table).encode()
    return len(raw).to_bytes(8, "little") + raw


# --- image bombs and broken images --------------------------------------------------------------

for _name, _data in {
    "PNG 1 x 50,000,000": png_header(1, 50_000_000),
    "PNG 50,000,000 x 1": png_header(50_000_000, 1),
    "PNG 21:1 strip": png_header(2100, 100),
    "PNG 8000 x 8000 (over --max-pixels)": png_header(8000, 8000),
    "PNG 100,000 x 100,000 (PIL's bomb guard)": png_header(100_000, 100_000),
    "PNG 0 x 10": png_header(0, 10),
    "PNG header only, no pixels": png_header(32, 32),
    "JPEG 60,000 x 60,000": jpeg_header(60_000, 60_000),
    "JPEG 3000 x 100 strip": jpeg_header(3000, 100),
    "JPEG header, no data": jpeg_header(64, 64),
    "GIF 65535 x 65535": gif_header(65535, 65535),
    "GIF 4000 x 10 strip": gif_header(4000, 10),
    "text named .png": b"not an image at all\n",
    "empty file": b"",
    "PNG signature only": b"\x89PNG\r\n\x1a\n",
}.items():

    def _bomb(ws: Workspace, data: bytes = _data, name: str = _name) -> tuple[list[str], str]:
        path = ws.file("bomb-" + "".join(c if c.isalnum() else "-" for c in name) + ".png", data)
        return ws.caption(path), str(path)

    case("image bombs", _name)(_bomb)


@case("image bombs", "truncated real PNG")
def _truncated(ws: Workspace) -> tuple[list[str], str]:
    path = ws.file("truncated.png", ws.image.read_bytes()[:70])
    return ws.caption(path), str(path)


@case("image bombs", "--max-pixels 100 on a 32 x 32 image")
def _max_pixels(ws: Workspace) -> tuple[list[str], str]:
    return ws.caption(ws.image, "--max-pixels", "100"), str(ws.image)


@case("image bombs", "image file over 256 MiB (sparse)")
def _huge_file(ws: Workspace) -> tuple[list[str], str]:
    path = sparse_file(ws.root / "sparse.png", 300 * 2**20)
    return ws.caption(path), str(path)
