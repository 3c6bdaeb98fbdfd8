"""Speed of the official-exact VQA accuracy on a VQA v2 val-sized set, against a plain baseline.

Builds ``--questions`` synthetic questions (default 200,000, about the 214k of VQA v2 val) with
10 human answers each: ``--identical`` of them with ten identical answers, the others with
answers written the ways annotators write them (case, trailing punctuation, articles, number
words, contractions without apostrophe, hyphens, commas in numbers); predictions are right or
wrong and written loosely too. Times :func:`multimodal_rnn.metrics.vqa.evaluate_vqa` on the parsed
data and from JSON files, and a baseline that follows the official ``vqaEval.py`` loop line by
line (no cache: every answer normalized every time, leave-one-out lists rebuilt per held-out
answer). Reports seconds, questions/s, the speed ratio, whether both give identical numbers,
and peak Python memory (tracemalloc) of one evaluation.

    python benchmarks/vqa_eval_speed.py                       # 200,000 questions
    python benchmarks/vqa_eval_speed.py --questions 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from multimodal_rnn.metrics.vqa import VQAEvaluation, evaluate_vqa
from multimodal_rnn.text.answers import ARTICLES, CONTRACTIONS, NUMBER_WORDS, PUNCTUATION

T = TypeVar("T")

NUMBERS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "20", "100", "1000", "3.5"]
OTHER = ["red", "white", "black and white", "dog", "cat", "t-shirt", "fire hydrant", "frisbee", "tennis", "pizza",
         "don't know", "what's that", "man's", "grass", "table", "left", "right", "skateboarding", "10:30", "wii"]
QUESTION_TYPES = {
    "yes/no": ["is the", "is this", "are there", "does the", "is there a", "can you"],
    "number": ["how many", "how many people are", "what number is", "what time"],
    "other": ["what color is the", "what is the", "what is", "what sport is", "where is the", "what kind of", "why"],
}
_DIGIT_WORDS = {digit: word for word, digit in NUMBER_WORDS.items() if word != "none"}
_CONTRACTED = {full: short for short, full in CONTRACTIONS.items() if short.isalpha() and short.islower()}


def loosely_written(answer: str, rng: random.Random) -> str:
    """``answer`` as an annotator or a model might write it (same meaning under the official normalization)."""
    choice = rng.random()
    if choice < 0.15:
        return answer.capitalize()
    if choice < 0.25:
        return answer + rng.choice([".", "!", " ", "\n"])
    if choice < 0.32:
        return "a " + answer if not answer[0].isdigit() else answer
    if choice < 0.40 and answer in _DIGIT_WORDS:
        return _DIGIT_WORDS[answer]
    if choice < 0.45:
        return " ".join(_CONTRACTED.get(word, word) for word in answer.split())
    if choice < 0.50 and answer == "1000":
        return "1,000"
    if choice < 0.55:
        return answer.replace(" ", "-")
    return answer


def synthetic_vqa(num_questions: int, identical: float, seed: int) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """(questions, annotations, results) in the official formats; answer types 38% yes/no, 12% number."""
    rng = random.Random(seed)
    pools = {"yes/no": ["yes", "no"], "number": NUMBERS, "other": OTHER + [f"object {k}" for k in range(300)]}
    questions, annotations, results = [], [], []
    for index in range(num_questions):
        question_id = 1_000_000 + index
        answer_type = rng.choices(["yes/no", "number", "other"], weights=[38, 12, 50])[0]
        pool = pools[answer_type]
        main = rng.choice(pool[:40]) if rng.random() < 0.8 else rng.choice(pool)
        if rng.random() < identical:
            answers = [main] * 10
        else:
            answers = [
                loosely_written(main if rng.random() < 0.6 else rng.choice(pool), rng) for _ in range(10)
            ]
        prediction = main if rng.random() < 0.6 else rng.choice(pool)
        questions.append({"image_id": index // 5, "question": "?", "question_id": question_id})
        annotations.append(
            {
                "question_id": question_id,
                "image_id": index // 5,
                "question_type": rng.choice(QUESTION_TYPES[answer_type]),
                "answer_type": answer_type,
                "multiple_choice_answer": main,
                "answers": [
                    {"answer": answer, "answer_confidence": "yes", "answer_id": k + 1}
                    for k, answer in enumerate(answers)
                ],
            }
        )
        results.append({"question_id": question_id, "answer": loosely_written(prediction, rng)})
    return (
        {"task_type": "Open-Ended", "questions": questions},
        {"annotations": annotations},
        results,
    )


_BASELINE_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_BASELINE_COMMA = re.compile(r"(\d)(\,)(\d)")


def baseline_punctuation(text: str) -> str:
    """The official ``processPunctuation`` as written (the comma regex searched once per symbol)."""
    result = text
    for symbol in PUNCTUATION:
        if (symbol + " " in text or " " + symbol in text) or (re.search(_BASELINE_COMMA, text) is not None):
            result = result.replace(symbol, "")
        else:
            result = result.replace(symbol, " ")
    return _BASELINE_PERIOD.sub("", result, 32)


def baseline_digit_article(text: str) -> str:
    """The official ``processDigitArticle`` as written (two passes over the words)."""
    words = []
    for word in text.lower().split():
        word = NUMBER_WORDS.get(word, word)
        if word not in ARTICLES:
            words.append(word)
    for index, word in enumerate(words):
        if word in CONTRACTIONS:
            words[index] = CONTRACTIONS[word]
    return " ".join(words)


def baseline_evaluate(annotations: dict[str, Any], results: list[Any]) -> dict[str, Any]:
    """The official evaluation loop, step for step; mutates ``annotations`` as the official code does."""
    by_id = {annotation["question_id"]: annotation for annotation in annotations["annotations"]}
    predicted = {result["question_id"]: result for result in results}
    per_question: dict[int, float] = {}
    by_question_type: dict[str, list[float]] = {}
    by_answer_type: dict[str, list[float]] = {}
    for question_id in [annotation["question_id"] for annotation in annotations["annotations"]]:
        records = by_id[question_id]["answers"]
        for record in records:
            record["answer"] = record["answer"].replace("\n", " ").replace("\t", " ").strip()
        prediction = predicted[question_id]["answer"].replace("\n", " ").replace("\t", " ").strip()
        if len({record["answer"] for record in records}) > 1:
            for record in records:
                record["answer"] = baseline_digit_article(baseline_punctuation(record["answer"]))
            prediction = baseline_digit_article(baseline_punctuation(prediction))
        values = []
        for held_out in records:
            others = [record for record in records if record != held_out]
            matching = [record for record in others if record["answer"] == prediction]
            values.append(min(1, float(len(matching)) / 3))
        accuracy = float(sum(values)) / len(values)
        per_question[question_id] = accuracy
        by_question_type.setdefault(by_id[question_id]["question_type"], []).append(accuracy)
        by_answer_type.setdefault(by_id[question_id]["answer_type"], []).append(accuracy)

    def percent(values: list[float]) -> float:
        return round(100 * float(sum(values)) / len(values), 2)

    return {
        "overall": percent(list(per_question.values())),
        "per_question_type": {name: percent(values) for name, values in by_question_type.items()},
        "per_answer_type": {name: percent(values) for name, values in by_answer_type.items()},
        "per_question": per_question,
    }


def best_time(run: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Fastest wall-clock seconds of ``repeats`` calls and the last call's result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def time_baseline(annotations: dict[str, Any], results: list[Any], repeats: int) -> tuple[float, dict[str, Any]]:
    """Like :func:`best_time` for :func:`baseline_evaluate`, each run on a fresh copy (it rewrites answers)."""
    times = []
    for _ in range(repeats):
        fresh = copy.deepcopy(annotations)
        start = time.perf_counter()
        result = baseline_evaluate(fresh, results)
        times.append(time.perf_counter() - start)
    return min(times), result


def same_numbers(ours: VQAEvaluation, baseline: dict[str, Any]) -> tuple[bool, float]:
    """(aggregates identical, max |per-question difference|)."""
    aggregates = (
        ours.overall == baseline["overall"]
        and ours.per_answer_type == baseline["per_answer_type"]
        and ours.per_question_type == baseline["per_question_type"]
    )
    difference = max(abs(ours.per_question[q] - value) for q, value in baseline["per_question"].items())
    return aggregates, difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200_000)
    parser.add_argument("--identical", type=float, default=0.35, help="share of questions with 10 identical answers")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    questions, annotations, results = synthetic_vqa(args.questions, args.identical, args.seed)
    print(f"{args.questions} synthetic questions x 10 answers ({args.identical:.0%} all identical), "
          f"built in {time.perf_counter() - start:.1f} s")

    ours_s, evaluation = best_time(lambda: evaluate_vqa(questions, annotations, results), args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / name for name in ("questions.json", "annotations.json", "results.json")]
        for path, data in zip(paths, (questions, annotations, results)):
            path.write_text(json.dumps(data))
        files_s, _ = best_time(lambda: evaluate_vqa(*paths), args.repeats)

    baseline_s, baseline = time_baseline(annotations, results, args.repeats)
    identical, difference = same_numbers(evaluation, baseline)

    tracemalloc.start()
    evaluate_vqa(questions, annotations, results)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    n = args.questions
    print(f"{'run':<34} {'seconds':>8} {'questions/s':>12}")
    print(f"{'evaluate_vqa, parsed data':<34} {ours_s:>8.2f} {n / ours_s:>12,.0f}")
    print(f"{'evaluate_vqa, from JSON files':<34} {files_s:>8.2f} {n / files_s:>12,.0f}")
    print(f"{'baseline (official loop, no cache)':<34} {baseline_s:>8.2f} {n / baseline_s:>12,.0f}")
    print(f"speed-up over the baseline: {baseline_s / ours_s:.1f}x")
    print(f"overall {evaluation.overall:.2f} (baseline {baseline['overall']:.2f}); aggregates identical: {identical}; "
          f"max |per-question difference|: {difference:.1e}")
    print(f"peak Python memory of evaluate_vqa on parsed data: {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
