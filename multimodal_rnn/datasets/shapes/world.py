"""Shapes world: a built-in synthetic dataset for captioning, VQA and visual dialog.

Scenes of 1-4 colored shapes are rendered to PNG and described, from the same scene graph, in
the standard file formats the project reads (COCO captions, VQA v2, VisDial v1.0), plus the
scene graphs themselves as ground truth. Everything is deterministic: each image draws from its
own ``random.Random`` seeded by (seed, split, index, purpose), so the same seed gives
byte-identical files and the val and test images do not depend on the train size.

Layout written by :func:`generate_shapes_world` under ``out_dir``::

    manifest.json                          config and counts
    images/{split}/shapes_{split}_{image_id:012d}.png
    captions_{split}.json                  COCO captions, 5 per image
    vqa_questions_{split}.json             VQA v2 questions, 5 per image
    vqa_annotations_{split}.json           VQA v2 annotations, 10 answers each
    visdial_{split}.json                   VisDial v1.0, caption + 10 rounds, 100 options
    visdial_val_dense_annotations.json     dense relevance, one round per val dialog
    scenes_{split}.json                    scene graphs (objects in pixels, clear relations)

Image ids run from 1 through train, val and test, so they are unique across splits.
The in-memory pieces (:func:`make_scene`, :func:`render_scene`, :func:`captions_for`,
:func:`questions_for`, :func:`dialog_for`) are pure given their ``random.Random``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.shapes import writers
from multimodal_rnn.datasets.shapes.captions import CAPTIONS_PER_IMAGE, captions_for
from multimodal_rnn.datasets.shapes.dialog import (
    ANSWER_POOL,
    OPTIONS_PER_ROUND,
    ROUNDS_PER_DIALOG,
    answer_relevance,
    dialog_for,
)
from multimodal_rnn.datasets.shapes.questions import QUESTIONS_PER_IMAGE, questions_for
from multimodal_rnn.datasets.shapes.scene import (
    COLORS,
    SHAPES,
    SIZES,
    Scene,
    ShapesConfig,
    make_scene,
    render_scene,
    scene_graph,
)
from multimodal_rnn.datasets.shapes.writers import ImageRecord
from multimodal_rnn.errors import InputError
from multimodal_rnn.files import write_json

__all__ = [
    "ANSWER_POOL",
    "COLORS",
    "ImageRecord",
    "SHAPES",
    "SIZES",
    "SPLITS",
    "Scene",
    "ShapesConfig",
    "answer_relevance",
    "captions_for",
    "dialog_for",
    "generate_shapes_world",
    "image_file_name",
    "image_record",
    "image_rng",
    "make_scene",
    "questions_for",
    "render_scene",
    "scene_graph",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")
DENSE_ANNOTATIONS = "visdial_val_dense_annotations.json"
_SPLIT_FILES = (
    "captions_{}.json",
    "vqa_questions_{}.json",
    "vqa_annotations_{}.json",
    "visdial_{}.json",
    "scenes_{}.json",
)


def image_rng(seed: int, split: str, index: int, purpose: str) -> random.Random:
    """The random stream of one image for one purpose (``"scene"``, ``"captions"``, ...)."""
    return random.Random(f"shapes-world/{seed}/{split}/{index}/{purpose}")


def image_file_name(split: str, image_id: int) -> str:
    """COCO-like file name, e.g. ``shapes_val_000000008001.png``."""
    return f"shapes_{split}_{image_id:012d}.png"


def generate_shapes_world(
    out_dir: str | os.PathLike[str],
    config: ShapesConfig = ShapesConfig(),
    progress: Callable[[int, int], None] | None = None,
    *,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Generate the shapes world into ``out_dir`` and return a summary of what was written.

    Args:
        out_dir: destination directory; created if missing.
        config: sizes, seed and scene options.
        progress: called as ``progress(images_done, images_total)`` after each image.
        overwrite: allow a non-empty ``out_dir``; files of a previous shapes world there
            (the names listed in the module docstring) are removed first, nothing else is.

    Returns:
        ``{"out_dir", "manifest", "splits": {split: {"images", "captions", "questions",
        "dialogs", "image_dir", "files"}}, "dense_annotations", "caption_vocabulary_size"}``
        with paths as strings.

    Raises:
        InputError: ``out_dir`` is a file, or a non-empty directory and ``overwrite`` is False.
    """
    out = Path(out_dir)
    _prepare_directory(out, overwrite)
    sizes = {"train": config.train_size, "val": config.val_size, "test": config.test_size}
    total, done = sum(sizes.values()), 0
    splits: dict[str, dict[str, Any]] = {}  # counts and paths relative to out_dir
    vocabulary: set[str] = set()
    for split in SPLITS:
        image_dir = out / "images" / split
        image_dir.mkdir(parents=True, exist_ok=True)
        records = []
        for index in range(sizes[split]):
            record = image_record(config, split, index)
            render_scene(record.scene, config.image_size).save(image_dir / record.file_name, format="PNG")
            records.append(record)
            vocabulary.update(word for caption in record.captions for word in caption.split())
            done += 1
            if progress is not None:
                progress(done, total)
        splits[split] = {
            "images": len(records),
            "captions": sum(len(r.captions) for r in records),
            "questions": sum(len(r.questions) for r in records),
            "dialogs": len(records),
            "image_dir": f"images/{split}",
            "files": _write_split(out, split, records, config),
        }
        if split == "val":
            write_json(out / DENSE_ANNOTATIONS, writers.visdial_dense_annotations(records))
    manifest = {
        "dataset": "shapes_world",
        "format_version": 1,
        "config": config_to_dict(config),
        "captions_per_image": CAPTIONS_PER_IMAGE,
        "questions_per_image": QUESTIONS_PER_IMAGE,
        "rounds_per_dialog": ROUNDS_PER_DIALOG,
        "options_per_round": OPTIONS_PER_ROUND,
        "caption_vocabulary_size": len(vocabulary),
        "dense_annotations": DENSE_ANNOTATIONS,
        "splits": splits,
    }
    write_json(out / "manifest.json", manifest)
    for info in splits.values():
        info["image_dir"] = str(out / info["image_dir"])
        info["files"] = {key: str(out / name) for key, name in info["files"].items()}
    return {
        "out_dir": str(out),
        "manifest": str(out / "manifest.json"),
        "dense_annotations": str(out / DENSE_ANNOTATIONS),
        "caption_vocabulary_size": len(vocabulary),
        "splits": splits,
    }


def image_record(config: ShapesConfig, split: str, index: int) -> ImageRecord:
    """Everything about image ``index`` of ``split``, in memory (render with :func:`render_scene`).

    Image ids run from 1 through train, then val, then test.
    """
    offset = {"train": 0, "val": config.train_size, "test": config.train_size + config.val_size}[split]
    scene = make_scene(image_rng(config.seed, split, index, "scene"), config)
    captions = captions_for(scene, image_rng(config.seed, split, index, "captions"))
    dialog_rng = image_rng(config.seed, split, index, "dialog")
    return ImageRecord(
        image_id=offset + index + 1,
        file_name=image_file_name(split, offset + index + 1),
        scene=scene,
        captions=captions,
        questions=questions_for(scene, image_rng(config.seed, split, index, "questions")),
        dialog=dialog_for(scene, dialog_rng, caption=dialog_rng.choice(captions)),
        held_out_round=image_rng(config.seed, split, index, "held-out-round").randint(1, ROUNDS_PER_DIALOG),
    )


def _write_split(out: Path, split: str, records: list[ImageRecord], config: ShapesConfig) -> dict[str, str]:
    """Write the five JSON files of one split; returns their names relative to ``out``."""
    contents = {
        "captions": writers.coco_captions(split, records, config.image_size),
        "vqa_questions": writers.vqa_questions(split, records),
        "vqa_annotations": writers.vqa_annotations(split, records),
        "visdial": writers.visdial(split, records),
        "scenes": writers.scene_graphs(split, records, config.image_size, config.relation_margin),
    }
    files = {}
    for (key, data), pattern in zip(contents.items(), _SPLIT_FILES):
        files[key] = pattern.format(split)
        write_json(out / files[key], data)
    return files


def _prepare_directory(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"{out}: directory is not empty; refusing to overwrite it")
        for split in SPLITS:
            for pattern in _SPLIT_FILES:
                (out / pattern.format(split)).unlink(missing_ok=True)
            for image in (out / "images" / split).glob(f"shapes_{split}_*.png"):
                image.unlink()
        (out / DENSE_ANNOTATIONS).unlink(missing_ok=True)
        (out / "manifest.json").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
