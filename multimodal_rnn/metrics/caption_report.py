"""The report of a caption evaluation: every COCO caption metric of raw candidates against raw
references, with per-item scores and NLTK's corpus BLEU-4, and its text table.

Both caption evaluations (``mmrnn eval caption``, by image; ``mmrnn eval video_caption``, by
video) build their reports here, after reading and checking their own results files.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from multimodal_rnn.metrics.caption import CAPTION_METRICS, caption_metrics
from multimodal_rnn.metrics.corpus import MetricScore, MetricUnavailable
from multimodal_rnn.metrics.nltk_bleu import nltk_corpus_bleu
from multimodal_rnn.text.vocab import tokenize as coco_tokenize

NLTK_BLEU_KEY = "nltk_corpus_bleu_4"
"""Where a report holds NLTK's corpus BLEU-4 (beside ``metrics``)."""


def caption_report(
    candidates: Mapping[Any, str],
    references: Mapping[Any, Sequence[str]],
    *,
    item: str,
    tokenize: Callable[[str], list[str]] | None = None,
    meteor: bool = False,
) -> dict[str, Any]:
    """The COCO caption metrics of raw ``candidates`` (one caption per id) against raw
    ``references`` (a list per id, covering every candidate id), both tokenized by ``tokenize``
    (default: the COCO way, :func:`multimodal_rnn.text.vocab.tokenize`).

    Returns:
        A JSON-ready dict: ``metrics`` (name -> value, None when unavailable, in
        :data:`~multimodal_rnn.metrics.caption.CAPTION_METRICS` order), ``unavailable`` (name ->
        reason), :data:`NLTK_BLEU_KEY`, ``num_<item>s`` and ``per_<item>`` (a list of
        ``{"<item>_id": id, metric: score, ...}`` sorted by id); ``item`` is e.g. ``"image"``.
    """
    tokenize = tokenize or coco_tokenize
    tokenized_references = {i: [" ".join(tokenize(r)) for r in references[i]] for i in candidates}
    tokenized_candidates = {i: " ".join(tokenize(c)) for i, c in candidates.items()}
    scores = caption_metrics(tokenized_references, tokenized_candidates, meteor=meteor)
    available = {name: s for name, s in scores.items() if isinstance(s, MetricScore)}
    ids: list[Hashable] = sorted(candidates)
    return {
        "metrics": {name: available[name].value if name in available else None for name in CAPTION_METRICS},
        "unavailable": {name: s.reason for name, s in scores.items() if isinstance(s, MetricUnavailable)},
        NLTK_BLEU_KEY: nltk_corpus_bleu(tokenized_references, tokenized_candidates),
        f"num_{item}s": len(candidates),
        f"per_{item}": [{f"{item}_id": i, **{name: s.per_image[i] for name, s in available.items()}} for i in ids],
    }


def metrics_table(report: Mapping[str, Any], *, item: str, extra: Sequence[tuple[str, str]] = ()) -> str:
    """A two-column (metric, value) text table of a :func:`caption_report`'s ``metrics`` (the
    ``Bleu_4`` row also shows NLTK's corpus BLEU-4 when the report has it), then ``extra`` rows and
    the count of ``<item>s``."""
    rows = [("metric", "value")]
    for name, value in report["metrics"].items():
        if value is None:
            rows.append((name, f"n/a ({report['unavailable'].get(name, 'unavailable')})"))
        elif name == "Bleu_4" and report.get(NLTK_BLEU_KEY) is not None:
            rows.append((name, f"{value:.4f}  (NLTK corpus_bleu BLEU-4: {report[NLTK_BLEU_KEY]:.4f})"))
        else:
            rows.append((name, f"{value:.4f}"))
    rows.extend(extra)
    rows.append((f"{item}s", str(report[f"num_{item}s"])))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
