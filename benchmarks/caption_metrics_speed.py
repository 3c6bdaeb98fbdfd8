"""Speed of the caption metrics against pycocoevalcap as a user runs it, and of the SCST reward.

Corpus: ``--images`` images x ``--refs`` references of realistic raw captions, either COCO-style
(``--corpus coco``: capitalised sentences with punctuation and clitics over a ~150-word
vocabulary, candidates written like a model's output: lowercase, shorter, no period) or the
shapes world's templated captions (``--corpus shapes``). Three measurements, each as interleaved
rounds (baseline and ours alternating, after one warm-up round) in this process, reported as the
median seconds, the median ratio pycocoevalcap / ours and its spread, with the load average:

1. metrics only, on the captions already tokenized: BLEU-1..4 (``Bleu(4)``), ROUGE-L
   (``Rouge()``), CIDEr-D (``Cider()``) and the three together, with the largest difference of
   any corpus or per-image score;
2. end to end from raw text: pycocoevalcap's ``PTBTokenizer`` (the Java jar, JVM start
   included, once for the references and once for the candidates, as ``COCOEvalCap`` does) +
   Bleu + Rouge + Cider, against :func:`multimodal_rnn.metrics.caption.score_captions` with our
   Python tokenizer; METEOR (the same Java jar on both sides) and SPICE are left out of both.
   The tokenizers alone are timed too;
3. the SCST reward, ``CiderD(train references).score_batch`` on ``--samples`` sampled captions
   per image in calls of ``--batch-images`` images, as ``SelfCriticalObjective`` calls it:
   reference vectors cached (``CiderD``'s default, warm after the first epoch) against rebuilt on
   every call (``cache_references=False``), in captions/s.

    PYTHONPATH=. python benchmarks/caption_metrics_speed.py                  # 5,000 images x 5 refs
    PYTHONPATH=. python benchmarks/caption_metrics_speed.py --corpus shapes --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from timing import interleaved_seconds, median_and_spread, paired_ratio_text

from multimodal_rnn.metrics.bleu import bleu_score
from multimodal_rnn.metrics.caption import caption_metrics, score_captions
from multimodal_rnn.metrics.cider import CiderD, cider_d_score
from multimodal_rnn.metrics.corpus import MetricScore
from multimodal_rnn.metrics.rouge import rouge_l_score
from multimodal_rnn.text.vocab import tokenize

People = "man woman person boy girl child player skier surfer chef".split()
Animals = "dog cat horse giraffe elephant zebra cow sheep bird bear".split()
Things = (
    "train bus truck car motorcycle bicycle airplane boat plate pizza sandwich cake banana laptop phone "
    "umbrella kite frisbee ball surfboard skateboard clock sign bench table couch bed chair toilet sink"
).split()
Places = "street road field beach ocean water grass snow kitchen bathroom room park city building track".split()
Adjectives = "large small young old white black red blue green yellow brown wooden tall little big open".split()
Actions = "holding riding eating carrying watching flying pulling pushing using throwing".split()
Poses = "sitting standing walking laying parked playing waiting running".split()
Prepositions = ["on", "in", "next to", "near", "on top of", "in front of", "down", "under", "by", "at"]


def _zipf(words: Sequence[str]) -> Callable[[random.Random], str]:
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(words))))
    return lambda rng: rng.choices(words, cum_weights=cumulative)[0]


PERSON, ANIMAL, THING, PLACE = _zipf(People), _zipf(Animals), _zipf(Things), _zipf(Places)
ADJECTIVE, ACTION, POSE, PREPOSITION = _zipf(Adjectives), _zipf(Actions), _zipf(Poses), _zipf(Prepositions)


def _coco_caption(rng: random.Random, scene: tuple[str, str, str], model_like: bool) -> str:
    """One caption of ``scene`` (subject, object, place): a reference, or a model's guess."""
    subject, thing, place = (
        word if rng.random() < 0.7 else pick(rng) for word, pick in zip(scene, (PERSON, THING, PLACE))
    )
    a = "a" if model_like or rng.random() < 0.8 else rng.choice(["the", "one", "an old"])
    adjective = f"{ADJECTIVE(rng)} " if rng.random() < (0.2 if model_like else 0.45) else ""
    template = 0 if model_like and rng.random() < 0.6 else rng.randrange(6)
    where = f"{PREPOSITION(rng)} the {place}"
    if template == 0:
        text = f"{a} {adjective}{subject} {POSE(rng)} {where}"
    elif template == 1:
        text = f"{a} {subject} {ACTION(rng)} a {adjective}{thing} {where}"
    elif template == 2:
        text = f"there is a {subject} {POSE(rng)} {where} with a {thing}"
    elif template == 3:
        text = f"two {subject}s and a {ANIMAL(rng)} {POSE(rng)} {where}"
    elif template == 4:
        text = f"a {subject}'s {thing} {POSE(rng)} {where}, next to a {adjective}{ANIMAL(rng)}"
    else:
        text = f"a {adjective}{thing} that is {POSE(rng)} {where} while a {subject} is {ACTION(rng)} it"
    if model_like:
        return text.replace(",", "").replace("'s", " s")
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", "", " .", "!"])


def coco_corpus(
    num_images: int, num_refs: int, num_samples: int, seed: int
) -> tuple[dict[int, list[str]], dict[int, str], dict[int, list[str]]]:
    """Raw references, one raw candidate and ``num_samples`` sampled captions per image."""
    rng = random.Random(seed)
    references, candidates, samples = {}, {}, {}
    for image in range(num_images):
        scene = (PERSON(rng), THING(rng), PLACE(rng))
        references[image] = [_coco_caption(rng, scene, model_like=False) for _ in range(num_refs)]
        candidates[image] = _coco_caption(rng, scene, model_like=True)
        samples[image] = [_coco_caption(rng, scene, model_like=True) for _ in range(num_samples)]
    return references, candidates, samples


def shapes_corpus(
    num_images: int, num_refs: int, num_samples: int, seed: int
) -> tuple[dict[int, list[str]], dict[int, str], dict[int, list[str]]]:
    """The shapes world's captions: references of a scene, candidates drawn anew for the same scene."""
    from multimodal_rnn.datasets.shapes import ShapesConfig
    from multimodal_rnn.datasets.shapes.captions import captions_for
    from multimodal_rnn.datasets.shapes.scene import make_scene

    rng, config = random.Random(seed), ShapesConfig()
    references, candidates, samples = {}, {}, {}
    for image in range(num_images):
        scene = make_scene(rng, config)
        references[image] = captions_for(scene, rng)[:num_refs]
        drawn = [rng.choice(captions_for(scene, rng)) for _ in range(num_samples + 1)]
        candidates[image], samples[image] = drawn[0], drawn[1:]
    return references, candidates, samples


def _official_scores(gts: dict[int, list[str]], res: dict[int, list[str]]) -> dict[str, tuple[float, list[float]]]:
    """pycocoevalcap's Bleu(4), Rouge and Cider as ``COCOEvalCap.evaluate`` calls them (no METEOR/SPICE)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    bleu, bleu_images = Bleu(4).compute_score(gts, res, verbose=0)
    scores = {f"Bleu_{k + 1}": (bleu[k], list(bleu_images[k])) for k in range(4)}
    rouge, rouge_images = Rouge().compute_score(gts, res)
    cider, cider_images = Cider().compute_score(gts, res)
    scores["ROUGE_L"] = (float(rouge), list(rouge_images))
    scores["CIDEr"] = (float(cider), list(cider_images))
    return scores


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (the jar prints a line per call there)."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _jar_tokenize(captions: dict[int, list[str]]) -> dict[int, list[str]]:
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    with _quiet_stderr():
        return PTBTokenizer().tokenize({i: [{"caption": c} for c in texts] for i, texts in captions.items()})


def _official_end_to_end(references: dict[int, list[str]], candidates: dict[int, str]) -> Any:
    gts = _jar_tokenize(references)
    res = _jar_tokenize({i: [c] for i, c in candidates.items()})
    return _official_scores(gts, res)


def _difference(ours: dict[str, MetricScore], official: dict[str, tuple[float, list[float]]], ids: list[int]) -> float:
    """Largest |ours - official| over the corpus and per-image scores of the metrics both have."""
    worst = 0.0
    for name, (corpus, per_image) in official.items():
        if name in ours:
            worst = max(worst, abs(ours[name].value - corpus))
            worst = max(worst, *(abs(ours[name].per_image[i] - v) for i, v in zip(ids, per_image)))
    return worst


def _report(name: str, runs: dict[str, Callable[[], Any]], repeats: int) -> None:
    """One line: median seconds of the baseline (first run) and of ours, the ratio and the load."""
    times = interleaved_seconds(runs, repeats)
    baseline, ours = list(runs)
    print(
        f"{name:<24} {median_and_spread(times[baseline])[0]:>9.3f} {median_and_spread(times[ours])[0]:>8.3f}  "
        f"{paired_ratio_text(times[baseline], times[ours])}"
    )


def compare_metrics(references: dict[int, list[str]], candidates: dict[int, str], repeats: int) -> None:
    """Section 1: pre-tokenized metrics against pycocoevalcap's scorers."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    refs = {i: [" ".join(tokenize(r)) for r in texts] for i, texts in references.items()}
    cands = {i: " ".join(tokenize(c)) for i, c in candidates.items()}
    gts, res, ids = refs, {i: [c] for i, c in cands.items()}, list(refs)

    def ours_all() -> dict[str, MetricScore]:
        return {n: s for n, s in caption_metrics(refs, cands, meteor=False).items() if isinstance(s, MetricScore)}

    difference = _difference(ours_all(), _official_scores(gts, res), ids)
    print(f"\n1. metrics on tokenized captions (max |ours - pycocoevalcap| over all scores: {difference:.1e})")
    print(f"{'':<24} {'pycoco s':>9} {'ours s':>8}  speed-up: median (min-max, pairs; load after)")
    _report(
        "BLEU-1..4",
        {"pycoco": lambda: Bleu(4).compute_score(gts, res, verbose=0), "ours": lambda: bleu_score(refs, cands)},
        repeats,
    )
    _report(
        "ROUGE-L",
        {"pycoco": lambda: Rouge().compute_score(gts, res), "ours": lambda: rouge_l_score(refs, cands)},
        repeats,
    )
    _report(
        "CIDEr-D",
        {"pycoco": lambda: Cider().compute_score(gts, res), "ours": lambda: cider_d_score(refs, cands)},
        repeats,
    )
    _report("BLEU+ROUGE-L+CIDEr-D", {"pycoco": lambda: _official_scores(gts, res), "ours": ours_all}, repeats)


def compare_end_to_end(references: dict[int, list[str]], candidates: dict[int, str], repeats: int) -> None:
    """Section 2: raw text in, BLEU + ROUGE-L + CIDEr-D out; the tokenizers alone."""
    ours = score_captions(references, candidates, meteor=False)
    official = _official_end_to_end(references, candidates)
    scores = {name: s for name, s in ours.items() if isinstance(s, MetricScore)}
    difference = _difference(scores, official, list(references))
    all_captions = {i: [*references[i], candidates[i]] for i in references}
    jar = _jar_tokenize(all_captions)
    mismatched = sum(
        jar[i][k] != " ".join(tokenize(c)) for i, texts in all_captions.items() for k, c in enumerate(texts)
    )
    count = sum(len(texts) for texts in all_captions.values())
    print(
        f"\n2. end to end from raw text, METEOR and SPICE left out of both (max |diff| {difference:.1e}; "
        f"tokens differ from the jar's on {mismatched} of {count} captions)"
    )
    print(f"{'':<24} {'pycoco s':>9} {'ours s':>8}  speed-up: median (min-max, pairs; load after)")
    _report(
        "tokenize + 3 metrics",
        {
            "pycoco": lambda: _official_end_to_end(references, candidates),
            "ours": lambda: score_captions(references, candidates, meteor=False),
        },
        repeats,
    )
    _report(
        f"tokenizer, {count} caps",
        {
            "pycoco": lambda: _jar_tokenize(all_captions),
            "ours": lambda: [tokenize(c) for texts in all_captions.values() for c in texts],
        },
        repeats,
    )


def compare_rewards(
    references: dict[int, list[str]], samples: dict[int, list[str]], batch_images: int, repeats: int
) -> None:
    """Section 3: SCST rewards with cached reference vectors against rebuilt ones."""
    refs = {i: [" ".join(tokenize(r)) for r in texts] for i, texts in references.items()}
    sampled = {i: [" ".join(tokenize(c)) for c in texts] for i, texts in samples.items()}
    ids = list(refs)
    num_samples = len(sampled[ids[0]])
    batches = [
        (
            [c for i in ids[s : s + batch_images] for c in sampled[i]],
            [refs[i] for i in ids[s : s + batch_images] for _ in range(num_samples)],
        )
        for s in range(0, len(ids), batch_images)
    ]

    def epoch(scorer: CiderD) -> Callable[[], list[list[float]]]:
        return lambda: [scorer.score_batch(captions, reference_lists) for captions, reference_lists in batches]

    cached, rebuilt = CiderD(refs), CiderD(refs, cache_references=False)
    first: dict[str, float] = {}
    for name, scorer in (("rebuilt", rebuilt), ("cached", cached)):  # the cache fills in this epoch
        start = time.perf_counter()
        epoch(scorer)()
        first[name] = time.perf_counter() - start
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    assert epoch(cached)() == epoch(rebuilt)(), "cached and rebuilt rewards differ"
    captions = len(ids) * num_samples
    print(
        f"\n3. SCST CIDEr-D rewards, {num_samples} samples x {batch_images} images per call, {captions} per epoch "
        "(rewards equal bit for bit)"
    )
    print(
        f"first epoch (cache filling): rebuilt {captions / first['rebuilt']:.0f} captions/s, cached "
        f"{captions / first['cached']:.0f} captions/s (load {load})"
    )
    times = interleaved_seconds({"rebuilt": epoch(rebuilt), "cached": epoch(cached)}, repeats)
    print(
        f"later epochs: rebuilt {captions / statistics.median(times['rebuilt']):.0f} captions/s, cached "
        f"{captions / statistics.median(times['cached']):.0f} captions/s, speed-up "
        f"{paired_ratio_text(times['rebuilt'], times['cached'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=("coco", "shapes"), default="coco")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--refs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=5, help="sampled captions per image for the SCST rewards")
    parser.add_argument("--batch-images", type=int, default=50, help="images per score_batch call (SCST)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds per measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], choices=("metrics", "end-to-end", "rewards"))
    args = parser.parse_args()

    make = coco_corpus if args.corpus == "coco" else shapes_corpus
    references, candidates, samples = make(args.images, args.refs, args.samples, args.seed)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cpus, load average {load} (1/5/15 min)")
    print(f"corpus: {args.corpus}, {args.images} images x {args.refs} references, 1 candidate each")
    if "metrics" not in args.skip:
        compare_metrics(references, candidates, args.repeats)
    if "end-to-end" not in args.skip:
        compare_end_to_end(references, candidates, args.repeats)
    if "rewards" not in args.skip:
        compare_rewards(references, samples, args.batch_images, args.repeats)


if __name__ == "__main__":
    main()
