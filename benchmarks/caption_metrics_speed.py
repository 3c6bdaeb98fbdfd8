"""Speed of the caption metrics against pycocoevalcap, and CIDEr-D reward throughput.

Scores a synthetic corpus (``--images`` images x ``--refs`` references, Zipf-distributed words,
8-14 tokens per sentence, candidates that reuse reference words) with our BLEU-1..4, ROUGE-L and
CIDEr-D and with pycocoevalcap's ``Bleu(4)``, ``Rouge()`` and ``Cider()`` in the same process,
and reports seconds, the speed ratio and the largest score difference. Then times
``CiderD(corpus).score_batch`` as self-critical training uses it: one caption per image (every
reference list new), and ``--samples`` captions per image in batches of ``--batch-images``.

    python benchmarks/caption_metrics_speed.py                      # 5,000 images x 5 refs
    python benchmarks/caption_metrics_speed.py --images 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from multimodal_rnn.metrics.bleu import bleu_score
from multimodal_rnn.metrics.cider import CiderD, cider_d_score
from multimodal_rnn.metrics.corpus import MetricScore
from multimodal_rnn.metrics.rouge import rouge_l_score

T = TypeVar("T")


def synthetic_corpus(
    num_images: int, num_refs: int, vocab_size: int, seed: int
) -> tuple[dict[int, list[str]], dict[int, str]]:
    """References and one candidate per image; words follow a Zipf law over ``vocab_size`` words."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab_size)]
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(vocab_size)))

    def sentence() -> list[str]:
        return rng.choices(words, cum_weights=cumulative, k=rng.randint(8, 14))

    references = {i: [" ".join(sentence()) for _ in range(num_refs)] for i in range(num_images)}
    candidates = {}
    for i, refs in references.items():
        borrowed = rng.choice(refs).split()
        fresh = sentence()
        cut = rng.randint(2, len(borrowed))
        candidates[i] = " ".join(borrowed[:cut] + fresh[cut:])
    return references, candidates


def best_time(run: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Fastest wall-clock seconds of ``repeats`` calls and the last call's result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def max_abs_difference(ours: MetricScore, corpus: float, per_image: Sequence[float], image_ids: list[int]) -> float:
    """Largest |ours - official| over the corpus score and the per-image scores (official in id order)."""
    return max(abs(ours.value - corpus), *(abs(ours.per_image[i] - v) for i, v in zip(image_ids, per_image)))


def compare_with_pycocoevalcap(references: dict[int, list[str]], candidates: dict[int, str], repeats: int) -> None:
    """Print seconds, speed-up and max |difference| of BLEU, ROUGE-L and CIDEr-D against pycocoevalcap."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts = {i: list(refs) for i, refs in references.items()}
    res = {i: [c] for i, c in candidates.items()}
    image_ids = list(references)
    print(f"{'metric':<8} {'ours s':>8} {'pycoco s':>9} {'speed-up':>9} {'max |diff|':>11}")

    ours_s, bleu = best_time(lambda: bleu_score(references, candidates), repeats)
    official_s, (official_bleu, official_bleu_images) = best_time(
        lambda: Bleu(4).compute_score(gts, res, verbose=0), repeats
    )
    difference = max(
        max_abs_difference(bleu[k], official_bleu[k], official_bleu_images[k], image_ids) for k in range(4)
    )
    print(f"{'BLEU':<8} {ours_s:>8.3f} {official_s:>9.3f} {official_s / ours_s:>8.1f}x {difference:>11.1e}")

    runs: list[tuple[str, Callable[[], MetricScore], Callable[[], tuple[float, Sequence[float]]]]] = [
        ("ROUGE-L", lambda: rouge_l_score(references, candidates), lambda: Rouge().compute_score(gts, res)),
        ("CIDEr-D", lambda: cider_d_score(references, candidates), lambda: Cider().compute_score(gts, res)),
    ]
    for name, ours_fn, official_fn in runs:
        ours_s, score = best_time(ours_fn, repeats)
        official_s, (official_corpus, official_images) = best_time(official_fn, repeats)
        difference = max_abs_difference(score, float(official_corpus), official_images, image_ids)
        print(f"{name:<8} {ours_s:>8.3f} {official_s:>9.3f} {official_s / ours_s:>8.1f}x {difference:>11.1e}")


def reward_throughput(
    references: dict[int, list[str]],
    candidates: dict[int, str],
    samples: int,
    batch_images: int,
    repeats: int,
    seed: int,
) -> None:
    """Print CiderD captions/s: one caption per image, then ``samples`` per image in SCST-sized batches."""
    image_ids = list(references)
    scorer = CiderD(references)
    seconds, _ = best_time(
        lambda: scorer.score_batch([candidates[i] for i in image_ids], [references[i] for i in image_ids]), repeats
    )
    print(f"CiderD rewards, 1 caption per image: {len(image_ids) / seconds:.0f} captions/s")

    rng = random.Random(seed)

    def shuffled(caption: str) -> str:
        tokens = caption.split()
        return " ".join(rng.sample(tokens, k=len(tokens)))

    sampled = {i: [shuffled(candidates[i]) for _ in range(samples)] for i in image_ids}

    def one_epoch() -> None:
        for start in range(0, len(image_ids), batch_images):
            batch = image_ids[start:start + batch_images]
            captions = [caption for i in batch for caption in sampled[i]]
            scorer.score_batch(captions, [references[i] for i in batch for _ in range(samples)])

    seconds, _ = best_time(one_epoch, repeats)
    print(
        f"CiderD rewards, {samples} captions per image, {batch_images} images per call: "
        f"{len(image_ids) * samples / seconds:.0f} captions/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--refs", type=int, default=5)
    parser.add_argument("--vocab-size", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=6, help="captions per image in the SCST-style run")
    parser.add_argument("--batch-images", type=int, default=50, help="images per score_batch call (SCST-style)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    references, candidates = synthetic_corpus(args.images, args.refs, args.vocab_size, args.seed)
    print(f"corpus: {args.images} images x {args.refs} references, vocabulary {args.vocab_size}")
    compare_with_pycocoevalcap(references, candidates, args.repeats)
    reward_throughput(references, candidates, args.samples, args.batch_images, args.repeats, args.seed + 1)


if __name__ == "__main__":
    main()
