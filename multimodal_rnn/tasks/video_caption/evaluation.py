"""The evaluation of video caption results: the COCO caption metrics per clip, and faithfulness.

A results file is a JSON list ``[{"video_id": str, "caption": str}]`` with one caption per clip
(``mmrnn predict video_caption`` writes it). :func:`evaluate_video_captions` checks it against
the reference captions of the evaluated split (exactly the same clips), tokenizes both sides the
COCO way (PTB tokenizer, lowercased, punctuation dropped) and reports what the COCO caption
evaluation reports (:func:`multimodal_rnn.metrics.caption.caption_metrics`: BLEU-1..4, METEOR,
ROUGE-L, CIDEr-D, the same exact implementations ``mmrnn eval caption`` uses) with per-clip scores.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from multimodal_rnn.errors import DataFormatError
from multimodal_rnn.files import read_id_captions
from multimodal_rnn.metrics.caption_report import NLTK_BLEU_KEY, caption_report, metrics_table
from multimodal_rnn.metrics.corpus import first_ids

__all__ = ["NLTK_BLEU_KEY", "check_same_clips", "evaluate_video_captions", "format_metrics_table", "read_video_results"]


def read_video_results(results: str | os.PathLike[str] | Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The caption per video id of a results list (a path or the parsed list).

    Raises:
        InputError: the file is missing, unreadable or over 256 MiB.
        DataFormatError: not a list of ``{"video_id": str, "caption": str}``; a caption over the
            result limits (:func:`multimodal_rnn.files.check_result_texts`); a video id given twice.
    """
    captions, _ = read_id_captions(results, id_key="video_id", id_type=str)
    return captions


def check_same_clips(
    candidates: Mapping[str, str], references: Mapping[str, Sequence[str]], *, where: str, annotations: str
) -> None:
    """Refuse results that miss an annotated clip or caption a clip the annotations do not describe."""
    missing = sorted(set(references) - set(candidates))
    if missing:
        raise DataFormatError(
            f"{where}: no caption for {len(missing)} clip(s) of {annotations}: video_id {first_ids(missing)}"
        )
    extra = sorted(set(candidates) - set(references))
    if extra:
        raise DataFormatError(
            f"{where}: {len(extra)} video_id(s) without reference captions in {annotations}: {first_ids(extra)}"
        )


def evaluate_video_captions(
    candidates: Mapping[str, str], references: Mapping[str, Sequence[str]], *, meteor: bool = False
) -> dict[str, Any]:
    """COCO caption metrics of raw candidate captions against raw references, by video id.

    Returns:
        A JSON-ready dict: ``metrics`` (name -> value, None when unavailable, in
        :data:`~multimodal_rnn.metrics.caption.CAPTION_METRICS` order), ``unavailable`` (name ->
        reason), :data:`NLTK_BLEU_KEY`, ``num_videos`` and ``per_video`` (sorted by video id).
    """
    return caption_report(candidates, references, item="video", meteor=meteor)


def format_metrics_table(report: Mapping[str, Any]) -> str:
    """A two-column (metric, value) text table of a report's ``metrics`` and its count of videos."""
    return metrics_table(report, item="video")
