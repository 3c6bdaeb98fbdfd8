"""Every COCO caption metric at once: tokenized corpora, raw text, and COCO results/annotation files.

:func:`caption_metrics` takes tokenized captions (see :mod:`multimodal_rnn.metrics.corpus`);
:func:`score_captions` tokenizes raw text first; :func:`evaluate_captions` reads a COCO results
list (``[{"image_id": int, "caption": str}]``) and a COCO captions annotation file, checks that
they describe exactly the same images, and reports what pycocoevalcap's ``COCOEvalCap`` reports:
``Bleu_1``..``Bleu_4``, ``METEOR``, ``ROUGE_L``, ``CIDEr`` (CIDEr-D) and per-image scores.

Raw text is tokenized with :func:`multimodal_rnn.text.vocab.tokenize` unless another tokenizer is
given, and both sides go through the same path, as in the COCO evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from multimodal_rnn.errors import DataFormatError
from multimodal_rnn.files import read_json, require_keys
from multimodal_rnn.metrics.bleu import bleu_score
from multimodal_rnn.metrics.cider import cider_d_score
from multimodal_rnn.metrics.corpus import (
    Candidates,
    ImageId,
    MetricScore,
    MetricUnavailable,
    References,
    first_ids,
)
from multimodal_rnn.metrics.meteor import meteor_score
from multimodal_rnn.metrics.rouge import rouge_l_score

Tokenizer = Callable[[str], list[str]]
CAPTION_METRICS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")
"""Metric names in the order the COCO caption evaluation reports them."""


def caption_metrics(
    references: References, candidates: Candidates, *, meteor: bool = True
) -> dict[str, MetricScore | MetricUnavailable]:
    """All caption metrics of a tokenized corpus, keyed by the names in :data:`CAPTION_METRICS`.

    With ``meteor=False`` (or without Java) ``METEOR`` is a :class:`MetricUnavailable`.

    Raises:
        InputError: mismatched ids, an image without references, or a non-string caption.
    """
    scores: dict[str, MetricScore | MetricUnavailable] = {s.name: s for s in bleu_score(references, candidates)}
    scores["METEOR"] = (
        meteor_score(references, candidates) if meteor else MetricUnavailable("METEOR", "not requested")
    )
    scores["ROUGE_L"] = rouge_l_score(references, candidates)
    scores["CIDEr"] = cider_d_score(references, candidates)
    return scores


def _default_tokenizer() -> Tokenizer:
    from multimodal_rnn.text.vocab import tokenize

    return tokenize


def score_captions(
    references: Mapping[ImageId, Sequence[str]],
    candidates: Mapping[ImageId, str],
    *,
    meteor: bool = True,
    tokenize: Tokenizer | None = None,
) -> dict[str, MetricScore | MetricUnavailable]:
    """Tokenize raw captions the COCO way, then compute :func:`caption_metrics`.

    Args:
        references: image id -> raw reference captions.
        candidates: image id -> one raw candidate caption.
        tokenize: text -> tokens; defaults to :func:`multimodal_rnn.text.vocab.tokenize`.
    """
    tokenize = tokenize or _default_tokenizer()
    tokenized_references = {i: [" ".join(tokenize(r)) for r in refs] for i, refs in references.items()}
    tokenized_candidates = {i: " ".join(tokenize(c)) for i, c in candidates.items()}
    return caption_metrics(tokenized_references, tokenized_candidates, meteor=meteor)


def _load(source: str | os.PathLike[str] | Any, default_name: str) -> tuple[Any, str]:
    """(parsed data, name for messages) of a path to a JSON file or of already-parsed data."""
    if isinstance(source, (str, os.PathLike)):
        return read_json(source), str(Path(source))
    return source, default_name


def read_coco_references(annotations: str | os.PathLike[str] | Mapping[str, Any]) -> dict[int, list[str]]:
    """Raw reference captions per image id of a COCO captions annotation file (or its parsed dict).

    Only images with at least one caption are returned.

    Raises:
        InputError: the file is missing or not JSON.
        DataFormatError: the data is not a COCO captions dict (an ``annotations`` list of
            objects with an integer ``image_id`` and a string ``caption``).
    """
    data, where = _load(annotations, "annotations")
    require_keys(data, ("annotations",), where=where)
    if not isinstance(data["annotations"], list):
        raise DataFormatError(f"{where}: 'annotations' is not a list")
    references: dict[int, list[str]] = {}
    for index, annotation in enumerate(data["annotations"]):
        if not (
            isinstance(annotation, dict)
            and _is_int(annotation.get("image_id"))
            and isinstance(annotation.get("caption"), str)
        ):
            raise DataFormatError(
                f"{where}: annotations[{index}] needs an integer 'image_id' and a string 'caption'"
            )
        references.setdefault(annotation["image_id"], []).append(annotation["caption"])
    if not references:
        raise DataFormatError(f"{where}: no caption annotations")
    return references


def read_caption_results(
    results: str | os.PathLike[str] | Sequence[Mapping[str, Any]], image_ids: set[int], *, annotations_name: str
) -> dict[int, str]:
    """Raw candidate caption per image id of a COCO results list, checked against ``image_ids``.

    Raises:
        InputError: the file is missing or not JSON.
        DataFormatError: not a list; an entry without an integer ``image_id`` and a string
            ``caption``; an image id given twice; an annotated image without a result; a result
            for an image that has no reference captions in ``annotations_name``.
    """
    data, where = _load(results, "results")
    if not isinstance(data, list):
        raise DataFormatError(
            f'{where}: expected a JSON list of {{"image_id": int, "caption": str}} objects, got {type(data).__name__}'
        )
    malformed = [
        index
        for index, entry in enumerate(data)
        if not (isinstance(entry, dict) and _is_int(entry.get("image_id")) and isinstance(entry.get("caption"), str))
    ]
    if malformed:
        raise DataFormatError(
            f"{where}: entries at index {first_ids(malformed)} need an integer 'image_id' and a string 'caption'"
        )
    candidates: dict[int, str] = {}
    duplicates: list[int] = []
    for entry in data:
        if entry["image_id"] in candidates:
            duplicates.append(entry["image_id"])
        candidates[entry["image_id"]] = entry["caption"]
    if duplicates:
        raise DataFormatError(f"{where}: more than one caption for image_id {first_ids(set(duplicates))}")
    missing = image_ids - candidates.keys()
    if missing:
        raise DataFormatError(
            f"{where}: no caption for {len(missing)} image(s) of {annotations_name}: image_id {first_ids(missing)}"
        )
    extra = candidates.keys() - image_ids
    if extra:
        raise DataFormatError(
            f"{where}: {len(extra)} image_id(s) without reference captions in {annotations_name}: {first_ids(extra)}"
        )
    return candidates


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        :data:`CAPTION_METRICS` order), ``unavailable`` (name -> reason), ``num_images`` and
        ``per_image`` (a list, sorted by image id, of ``{"image_id", <metric>: value}``).

    Raises:
        InputError: a file is missing or not JSON.
        DataFormatError: the files do not follow the COCO formats or do not cover the same
            images (see :func:`read_caption_results`).
    """
    annotations_name = str(annotations) if isinstance(annotations, (str, os.PathLike)) else "the annotations"
    references = read_coco_references(annotations)
    candidates = read_caption_results(results, set(references), annotations_name=annotations_name)
    scores = score_captions(
        {i: references[i] for i in candidates}, candidates, meteor=meteor, tokenize=tokenize
    )
    available = {name: s for name, s in scores.items() if isinstance(s, MetricScore)}
    return {
        "metrics": {name: available[name].value if name in available else None for name in CAPTION_METRICS},
        "unavailable": {name: s.reason for name, s in scores.items() if isinstance(s, MetricUnavailable)},
        "num_images": len(candidates),
        "per_image": [
            {"image_id": image_id, **{name: s.per_image[image_id] for name, s in available.items()}}
            for image_id in sorted(candidates)
        ],
    }
