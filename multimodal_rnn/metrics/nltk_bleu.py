"""NLTK's corpus BLEU-4 (``nltk.translate.bleu_score.corpus_bleu``): the number captioning
tutorials report, beside the COCO evaluation's ``Bleu_4`` (:mod:`multimodal_rnn.metrics.bleu`).

Both sum clipped n-gram matches, n-gram counts and lengths over the corpus, take the reference
length closest to each candidate's (ties to the shorter) and weigh orders 1..4 equally. They
differ in two places: NLTK counts at least one n-gram of every order per candidate
(``max(1, L - n + 1)``, COCO ``max(0, L - n + 1)``), so captions shorter than four words lower
NLTK's precisions; and when an order has no match at all NLTK (no smoothing) gives a vanishing
score (about 1e-154; exactly 0 without a unigram match), COCO's 1e-15 / 1e-9 constants a small one. On corpora of captions of four words or
more with a match of every order the two agree to ~1e-9. No corpus download is needed.
"""

from __future__ import annotations

import warnings

from multimodal_rnn.metrics.corpus import Candidates, References, check_corpus


def nltk_corpus_bleu(references: References, candidates: Candidates) -> float:
    """NLTK corpus BLEU-4 (weights 0.25 each, no smoothing) of a tokenized corpus, in [0, 1].

    Args:
        references: image id -> reference captions, tokenized and joined by spaces.
        candidates: image id -> one candidate caption, tokenized the same way.

    Raises:
        InputError: the corpus cannot be scored (see :func:`~multimodal_rnn.metrics.corpus.check_corpus`).
    """
    # nltk takes ~0.3 s to import: only when asked
    from nltk.translate.bleu_score import corpus_bleu  # type: ignore[import-untyped]

    check_corpus(references, candidates)
    ids = list(candidates)
    with warnings.catch_warnings():  # NLTK warns when an n-gram order has no match
        warnings.simplefilter("ignore")
        return float(corpus_bleu([[r.split() for r in references[i]] for i in ids], [candidates[i].split() for i in ids]))
