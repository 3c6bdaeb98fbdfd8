"""Every COCO caption metric at once, on tokenized corpora or raw text.

:func:`caption_metrics` takes tokenized captions (see :mod:`multimodal_rnn.metrics.corpus`) and
reports what pycocoevalcap's ``COCOEvalCap`` reports: ``Bleu_1``..``Bleu_4``, ``METEOR``,
``ROUGE_L``, ``CIDEr`` (CIDEr-D), each with per-image scores; :func:`score_captions` tokenizes
raw text first. Reading COCO results and annotation files is the caption task's business
(:mod:`multimodal_rnn.tasks.caption.evaluation`).

Raw text is tokenized with :func:`multimodal_rnn.text.vocab.tokenize` unless another tokenizer is
given, and both sides go through the same path, as in the COCO evaluation.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from multimodal_rnn.metrics.bleu import bleu_of
from multimodal_rnn.metrics.cider import CIDER_MAX_ORDER, cider_d_of
from multimodal_rnn.metrics.corpus import (
    Candidates,
    ImageId,
    MetricScore,
    MetricUnavailable,
    References,
    check_corpus,
)
from multimodal_rnn.metrics.meteor import meteor_score
from multimodal_rnn.metrics.ngrams import corpus_ngrams
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
    check_corpus(references, candidates)
    ngrams = corpus_ngrams(references, candidates, CIDER_MAX_ORDER)  # BLEU-4 and CIDEr-D share the counts
    image_ids = list(candidates)
    scores: dict[str, MetricScore | MetricUnavailable] = {s.name: s for s in bleu_of(ngrams, image_ids)}
    scores["METEOR"] = (
        meteor_score(references, candidates) if meteor else MetricUnavailable("METEOR", "not requested")
    )
    scores["ROUGE_L"] = rouge_l_score(references, candidates)
    scores["CIDEr"] = cider_d_of(ngrams, image_ids)
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
