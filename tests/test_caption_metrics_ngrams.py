"""Caption metrics, continued: NLTK's corpus BLEU-4, the shared n-gram table, varied reference
counts, and the CIDEr-D reward's cached reference vectors (helpers from test_caption_metrics)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from multimodal_rnn.errors import InputError
from multimodal_rnn.metrics.bleu import bleu_score
from multimodal_rnn.metrics.cider import CiderD
from tests.test_caption_metrics import TOLERANCE, WORDS, max_differences, official, random_corpus


def test_nltk_corpus_bleu_against_hand_computed_values_and_coco() -> None:
    from nltk.translate.bleu_score import corpus_bleu

    from multimodal_rnn.metrics.nltk_bleu import nltk_corpus_bleu

    # one image: clipped matches 5/6, 3/5, 2/4, 1/3 at equal lengths (BP = 1)
    mat = ({1: ["the cat sat on a mat"]}, {1: "the cat sat on the mat"})
    assert nltk_corpus_bleu(*mat) == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, abs=1e-12)
    # + "a dog" against "a dog runs" / "the dog": 2/2, 1/1 and, NLTK counting one 3- and 4-gram of a
    # two-word caption, 0/1, 0/1; COCO counts none (0/0) -> corpus 7/8, 4/6, 2/5 (COCO 2/4), 1/4 (COCO 1/3)
    references, candidates = {**mat[0], 2: ["a dog runs", "the dog"]}, {**mat[1], 2: "a dog"}
    nltk_value = nltk_corpus_bleu(references, candidates)
    assert nltk_value == pytest.approx((7 / 8 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25, abs=1e-12)
    assert nltk_value == corpus_bleu(
        [[r.split() for r in references[i]] for i in (1, 2)], [candidates[i].split() for i in (1, 2)]
    )
    coco = {s.name: s.value for s in bleu_score(references, candidates)}["Bleu_4"]
    assert coco == pytest.approx((7 / 8 * 4 / 6 * 2 / 4 * 1 / 3) ** 0.25, abs=1e-8)
    # captions of four words or more, a match of every order: NLTK and COCO agree
    long_refs, long_cands = random_corpus(seed=3, num_images=40)
    long_cands = {i: c + " a dog on the grass" for i, c in long_cands.items()}
    coco_long = {s.name: s.value for s in bleu_score(long_refs, long_cands)}["Bleu_4"]
    assert nltk_corpus_bleu(long_refs, long_cands) == pytest.approx(coco_long, abs=1e-8)
    # no 4-gram match anywhere: NLTK's score vanishes; no unigram match: exactly 0
    assert nltk_corpus_bleu({1: ["a dog runs fast"]}, {1: "a cat runs fast"}) < 1e-100
    assert nltk_corpus_bleu({1: ["a dog"]}, {1: "two cats"}) == 0.0
    with pytest.raises(InputError, match="no captions to score"):
        nltk_corpus_bleu({}, {})


def test_ngram_table_counts_every_ngram_of_every_sentence() -> None:
    from collections import Counter

    from multimodal_rnn.metrics.corpus import all_ngrams
    from multimodal_rnn.metrics.ngrams import distinct_sorted, ngram_table

    rng = random.Random(6)
    random_sentences = (" ".join(rng.choice(WORDS[:5]) for _ in range(rng.randint(0, 9))) for _ in range(60))
    sentences = ["", "a", "a a a a a", *random_sentences]
    table = ngram_table(sentences, 4)
    assert table.lengths.tolist() == [len(s.split()) for s in sentences]
    # Each n-gram is known by where it occurs: {(sentence, order, count)}. The table's ids must
    # describe the same n-grams as a brute-force count, one id per distinct n-gram.
    expected: dict[tuple[str, ...], set[tuple[int, int, int]]] = {}
    for index, sentence in enumerate(sentences):
        for ngram, count in Counter(all_ngrams(sentence.split(), 4)).items():
            expected.setdefault(ngram, set()).add((index, len(ngram), count))
    got: dict[int, set[tuple[int, int, int]]] = {}
    for sentence, gram, order, count in zip(table.sentence, table.gram, table.order, table.count):
        got.setdefault(int(gram), set()).add((int(sentence), int(order), int(count)))
    assert sorted(map(sorted, got.values())) == sorted(map(sorted, expected.values()))
    assert table.num_grams == len(expected) and sorted(got) == list(range(len(expected)))
    keys = table.sentence * table.num_grams + table.gram
    assert (keys[1:] > keys[:-1]).all()  # sorted by (sentence, gram), no entry twice
    values, counts = distinct_sorted(np.array([5, 3, 5, 5, 0]), return_counts=True)
    assert values.tolist() == [0, 3, 5] and counts.tolist() == [1, 1, 3]


def test_varied_reference_counts_and_repeated_references_match_pycocoevalcap() -> None:
    rng = random.Random(8)
    references, candidates = random_corpus(seed=8, num_images=60)
    for image_id in references:
        refs = references[image_id][: rng.randint(1, 5)]
        references[image_id] = refs + refs[:1] if rng.random() < 0.3 else refs  # a reference given twice
    references[3] = ["", ""]
    candidates[4] = ""
    assert max(max_differences(references, candidates).values()) < TOLERANCE


def test_ciderd_cached_reference_vectors_give_the_same_rewards_bit_for_bit() -> None:
    references, candidates = random_corpus(seed=9, num_images=30)
    cached, rebuilt = CiderD(references), CiderD(references, cache_references=False)
    rng = random.Random(9)
    for _ in range(3):  # later calls read the vectors cached by the first
        ids = rng.sample(range(30), 10)
        samples = [candidates[rng.choice(ids)] for _ in ids for _ in range(4)]
        reference_lists = [references[i] for i in ids for _ in range(4)]
        assert cached.score_batch(samples, reference_lists) == rebuilt.score_batch(samples, reference_lists)
    single = cached.score_batch(list(candidates.values()), list(references.values()))
    _, official_scores = official(references, candidates)["CIDEr"]
    assert max(abs(a - b) for a, b in zip(single, official_scores)) < TOLERANCE
    # a reference list outside the corpus: its n-grams get idf log N, cached or not
    assert cached.score_batch(["x y", "x y"], [["x y"], ["x y"]]) == rebuilt.score_batch(["x y"], [["x y"]]) * 2


def test_scst_rewards_equal_with_cached_and_rebuilt_reference_vectors() -> None:
    import torch

    from multimodal_rnn.tasks.caption.models import MODELS
    from multimodal_rnn.tasks.caption.self_critical import SelfCriticalObjective

    references, candidates = random_corpus(seed=10, num_images=12)
    words = ["<pad>", "<bos>", "<eos>", *WORDS]
    model = MODELS.build(
        "show_tell",
        {"vocab_size": len(words), "hidden_size": 8, "embed_size": 8, "encoder": {"channels": [4, 4, 8, 8]}},
    )
    reference_lists = list(references.values())
    rng = random.Random(10)
    sequences = [[1, *(rng.randrange(3, len(words)) for _ in range(rng.randint(0, 9))), 2] for _ in range(24)]
    per_row = [reference_lists[k // 2] for k in range(24)]

    def decode(sequence: list[int]) -> list[str]:
        return [words[t] for t in sequence[1:-1]]

    rewards = []
    for cache in (True, False):
        objective = SelfCriticalObjective(
            model, CiderD(reference_lists, cache_references=cache), reference_lists, decode, num_samples=2
        )
        rewards.append([objective._rewards(sequences, per_row), objective._rewards(sequences, per_row)])
    assert all(torch.equal(rewards[0][0], r) for r in (*rewards[0], *rewards[1]))
    assert rewards[0][0].abs().sum() > 0
