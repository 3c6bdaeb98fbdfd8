"""The COCO caption evaluation of a results file: read both files, check they match, score.

:func:`evaluate_captions` reads a COCO results list (``[{"image_id": int, "caption": str}]``)
and a COCO captions annotation file through pycocotools' COCO API (the annotations indexed by
:func:`~multimodal_rnn.datasets.captions.load_coco_captions`, the results loaded with
``COCO.loadRes``, as pycocoevalcap's ``COCOEvalCap`` takes them), checks first that they
describe exactly the same images (one-line errors where ``loadRes`` would assert), and reports
``Bleu_1``..``Bleu_4``, ``METEOR``, ``ROUGE_L``, ``CIDEr`` with per-image scores
(:mod:`multimodal_rnn.metrics.caption`) plus NLTK's corpus BLEU-4 (:mod:`multimodal_rnn.metrics.nltk_bleu`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pycocotools.coco import COCO  # type: ignore[import-untyped]

from multimodal_rnn.datasets.captions import (
    caption_references,
    load_coco_captions,
    silently,
)
from multimodal_rnn.errors import DataFormatError
from multimodal_rnn.files import read_id_captions
from multimodal_rnn.metrics.caption import Tokenizer
from multimodal_rnn.metrics.caption_report import NLTK_BLEU_KEY, caption_report, metrics_table
from multimodal_rnn.metrics.corpus import first_ids

__all__ = ["NLTK_BLEU_KEY", "evaluate_captions", "format_metrics_table", "read_caption_results"]


def read_caption_results(
    results: str | os.PathLike[str] | Sequence[Mapping[str, Any]], coco: COCO, *, annotations_name: str
) -> dict[int, str]:
    """Raw candidate caption per image id of a COCO results list, checked against ``coco``.

    The list is loaded with ``coco.loadRes`` (as the COCO evaluation loads it) after checks that
    make every case where ``loadRes`` would assert, and every image left uncaptioned, a one-line
    error: results must hold exactly one caption for each image that has reference captions.

    Raises:
        InputError: the file is missing, not a regular file or over
            :data:`multimodal_rnn.files.MAX_RESULTS_FILE_BYTES` (256 MiB).
        DataFormatError: not JSON; not a list; a caption over 10,000 characters or 1,000 words
            (:func:`multimodal_rnn.files.check_result_texts`); an entry without an integer ``image_id`` and a string
            ``caption``; an image id given twice; an annotated image without a result; a result
            for an image that has no reference captions in ``annotations_name``.
    """
    captions, where = read_id_captions(results, id_key="image_id", id_type=int)
    ids = set(captions)
    annotated = set(coco.imgToAnns)
    missing = annotated - ids
    if missing:
        raise DataFormatError(
            f"{where}: no caption for {len(missing)} image(s) of {annotations_name}: image_id {first_ids(missing)}"
        )
    extra = ids - annotated
    if extra:
        raise DataFormatError(
            f"{where}: {len(extra)} image_id(s) without reference captions in {annotations_name}: {first_ids(extra)}"
        )
    loaded = silently(coco.loadRes, [{"image_id": i, "caption": c} for i, c in captions.items()])
    return {image_id: annotations[0]["caption"] for image_id, annotations in loaded.imgToAnns.items()}


def evaluate_captions(
    results: str | os.PathLike[str] | Sequence[Mapping[str, Any]],
    annotations: str | os.PathLike[str] | Mapping[str, Any],
    *,
    meteor: bool = True,
    tokenize: Tokenizer | None = None,
) -> dict[str, Any]:
    """COCO caption evaluation of a results list against a COCO captions annotation file.

    Args:
        results: path to (or parsed) ``[{"image_id": int, "caption": str}]``, one per image.
        annotations: path to (or parsed) COCO captions dict (``captions_val2014.json``).
        meteor: run the METEOR jar (needs Java; 5-20 s to start).
        tokenize: text -> tokens; defaults to :func:`multimodal_rnn.text.vocab.tokenize`.

    Returns:
        A JSON-ready dict: ``metrics`` (name -> value, None when unavailable, in
        :data:`~multimodal_rnn.metrics.caption.CAPTION_METRICS` order), ``unavailable`` (name -> reason),
        :data:`NLTK_BLEU_KEY` (NLTK's corpus BLEU-4 on the same tokens), ``num_images`` and
        ``per_image`` (a list, sorted by image id, of ``{"image_id", <metric>: value}``).

    Raises:
        InputError: a file is missing or not JSON.
        DataFormatError: the files do not follow the COCO formats or do not cover the same
            images (see :func:`read_caption_results`).
    """
    annotations_name = str(annotations) if isinstance(annotations, (str, os.PathLike)) else "the annotations"
    coco = load_coco_captions(annotations, need_captions=True)
    references = caption_references(coco)
    candidates = read_caption_results(results, coco, annotations_name=annotations_name)
    return caption_report(candidates, references, item="image", tokenize=tokenize, meteor=meteor)


def format_metrics_table(report: Mapping[str, Any]) -> str:
    """A two-column (metric, value) text table of an evaluation report's ``metrics``; the
    ``Bleu_4`` row also shows NLTK's corpus BLEU-4 when the report has it."""
    return metrics_table(report, item="image")
