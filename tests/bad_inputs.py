"""Tiny hostile files for the bad-input corpus (tests/test_bad_input_corpus.py), made at test time,
the workspace of good files the cases start from, and the registry of cases (:data:`CASES`, filled
by tests/bad_input_cases.py and tests/bad_input_paths.py).

Image "bombs" are headers only (a few dozen bytes that declare huge sizes), so nothing here costs
more than a few kilobytes; checkpoints are a tiny caption model saved and then tampered with.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from safetensors.torch import save_file

from multimodal_rnn.checkpoint import METADATA_KEY, save_checkpoint
from multimodal_rnn.tasks.caption.models import MODELS
from multimodal_rnn.text.vocab import Vocabulary

DEEP = 100_000
"""Nesting of the "deep" JSON files: far past Python's recursion limit."""

SMALL_CAPTION_MODEL = {
    "embed_size": 8,
    "hidden_size": 16,
    "attention_size": 8,
    "dropout": 0.0,
    "encoder": {"channels": [4, 4, 4, 4], "image_size": 32},
}


def deep_json(depth: int = DEEP) -> str:
    """``[[[...]]]`` nested ``depth`` levels."""
    return "[" * depth + "]" * depth


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` 8-bit gray pixels and holds (almost) none."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """A baseline JPEG that declares ``width`` x ``height`` and holds no image data."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 16 + b"\xff\xd9"


def gif_header(width: int, height: int) -> bytes:
    """A GIF whose screen and first frame declare ``width`` x ``height``."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", width, height, 0, 0, 0)
        + b","
        + struct.pack("<HHHHB", 0, 0, width, height, 0)
        + b"\x02\x02\x44\x01\x00;"
    )


def write_image(path: Path, size: tuple[int, int] = (32, 32)) -> Path:
    """A small valid PNG."""
    Image.new("RGB", size, (200, 40, 40)).save(path)
    return path


def make_fifo(path: Path) -> Path:
    """A named pipe nobody writes to: opening it for reading would block forever."""
    os.mkfifo(path)
    return path


def make_socket(path: Path) -> tuple[Path, socket.socket]:
    """A UNIX socket file (keep the returned socket open while it is used)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    return path, server


def sparse_file(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk space (a hole)."""
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


class TinyCaptionCheckpoint:
    """A tiny caption checkpoint and variants of it with a tampered header or tensors."""

    def __init__(self, folder: Path) -> None:
        torch.manual_seed(0)
        self.folder = folder
        self.vocab = Vocabulary.build([["a", "red", "square"]])
        config = {**SMALL_CAPTION_MODEL, "vocab_size": len(self.vocab)}
        self.model = MODELS.build("show_attend_tell", config)
        self.good = folder / "good.safetensors"
        save_checkpoint(
            self.good,
            self.model,
            task="caption",
            model_name="show_attend_tell",
            model_config=self.model.config,
            vocab=self.vocab.to_dict(),
        )
        from multimodal_rnn.checkpoint import read_header

        self.header: dict[str, Any] = read_header(self.good)
        self.tensors = {k: v.detach().clone().contiguous() for k, v in self.model.state_dict().items()}

    def variant(
        self,
        name: str,
        *,
        header: dict[str, Any] | None = None,
        metadata: str | None = None,
        tensors: dict[str, torch.Tensor] | None = None,
    ) -> Path:
        """The checkpoint with ``header`` (or the raw ``metadata`` text) and ``tensors`` replaced."""
        path = self.folder / f"{name}.safetensors"
        text = metadata if metadata is not None else json.dumps(header if header is not None else self.header)
        save_file(tensors if tensors is not None else self.tensors, str(path), metadata={METADATA_KEY: text})
        return path

    def config_variant(self, name: str, **changes: Any) -> Path:
        """The checkpoint whose ``model_config`` has ``changes``."""
        return self.variant(name, header={**self.header, "model_config": {**self.header["model_config"], **changes}})

    def header_variant(self, name: str, **changes: Any) -> Path:
        """The checkpoint whose header has ``changes``."""
        return self.variant(name, header={**self.header, **changes})

    def bad_tensor(self, name: str, value: float) -> Path:
        """The checkpoint with ``value`` (NaN, inf) in one weight."""
        tensors = dict(self.tensors)
        key = sorted(k for k, v in tensors.items() if v.is_floating_point())[-1]
        tensors[key] = tensors[key].clone()
        tensors[key].view(-1)[0] = value
        return self.variant(name, tensors=tensors)

    def raw(self, name: str, data: bytes) -> Path:
        """A file of ``data`` bytes."""
        path = self.folder / f"{name}.safetensors"
        path.write_bytes(data)
        return path


@dataclass
class Workspace:
    """The good files the cases start from, and a folder for the bad ones."""

    root: Path
    image: Path
    weights: TinyCaptionCheckpoint
    caption_files: tuple[Path, Path]
    vqa_files: tuple[Path, Path, Path]
    dialog_files: tuple[Path, Path, Path]
    sockets: list[socket.socket] = field(default_factory=list)

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def caption(self, image: Path | str, *extra: str, weights: Path | str | None = None) -> list[str]:
        return ["caption", str(image), "--weights", str(weights or self.weights.good), "--beam", "1", *extra]

    def eval_caption(self, results: Path | None = None, annotations: Path | None = None, *extra: str) -> list[str]:
        return [
            "eval",
            "caption",
            "--results",
            str(results or self.caption_files[0]),
            "--annotations",
            str(annotations or self.caption_files[1]),
            "--no-meteor",
            *extra,
        ]

    def eval_vqa(
        self, questions: Path | None = None, annotations: Path | None = None, results: Path | None = None, *extra: str
    ) -> list[str]:
        q, a, r = self.vqa_files
        return [
            "eval",
            "vqa",
            "--questions",
            str(questions or q),
            "--annotations",
            str(annotations or a),
            "--results",
            str(results or r),
            *extra,
        ]

    def eval_dialog(self, dialogs: Path | None = None, results: Path | None = None, *extra: str) -> list[str]:
        d, r, _ = self.dialog_files
        return ["eval", "dialog", "--dialogs", str(dialogs or d), "--results", str(results or r), *extra]


def make_workspace(root: Path) -> Workspace:
    """The good files of a workspace in ``root``: an image, a tiny caption checkpoint, and small
    caption (with its images), VQA and VisDial evaluation files."""
    from tests.test_dialog_eval_cli import write_files as write_dialog_files
    from tests.test_eval_cli import write_files as write_caption_files
    from tests.test_eval_vqa_cli import write_files as write_vqa_files

    for folder in ("caption", "vqa", "dialog"):
        (root / folder).mkdir()
    for image_id in (1, 2, 3):  # the images of the caption files
        write_image(root / "caption" / f"{image_id:012d}.jpg")
    return Workspace(
        root=root,
        image=write_image(root / "good.png"),
        weights=TinyCaptionCheckpoint(root),
        caption_files=write_caption_files(root / "caption"),
        vqa_files=write_vqa_files(root / "vqa"),
        dialog_files=write_dialog_files(root / "dialog"),
    )


def fifo_watchdog(fifo: Path, seconds: float) -> subprocess.Popen[bytes]:
    """A process that opens ``fifo`` for reading and writing after ``seconds`` (which never blocks
    on Linux) and closes it, freeing a reader or writer blocked in ``open``, even in native code
    that holds the GIL."""
    return subprocess.Popen(["sh", "-c", f'sleep {seconds}; : <> "$0"', str(fifo)])


Case = Callable[[Workspace], tuple[list[str], str]]
"""A case: from the workspace, the argv to run and a text the error line must contain."""

CASES: dict[str, dict[str, Case]] = {
    "nested JSON": {},
    "checkpoint headers": {},
    "image bombs": {},
    "FIFOs and devices": {},
    "paths": {},
    "oversized eval input": {},
}


def case(category: str, name: str) -> Callable[[Case], Case]:
    def register(function: Case) -> Case:
        CASES[category][name] = function
        return function

    return register


def one(ws: Workspace, name: str, text: str, command: Callable[..., list[str]], slot: str) -> tuple[list[str], str]:
    path = ws.file(name, text)
    return command(**{slot: path}), str(path)
