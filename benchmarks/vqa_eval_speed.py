"""Our VQA accuracy against the official VQA evaluation tool run as its users run it.

Baseline: GT-Vision-Lab/VQA (``PythonHelperTools/vqaTools/vqa.py`` and
``PythonEvaluationTools/vqaEvaluation/vqaEval.py``) driven as its ``vqaEvalDemo.py`` drives it:
a Python process that loads the question, annotation and result JSON files, evaluates, prints the
accuracies and writes the accuracy/evalQA/evalQuesType/evalAnsType JSON files (the demo's plots
and its random low-score example are left out). Its code is not part of this project: pass a
checkout with ``--official-dir`` (``git clone https://github.com/GT-Vision-Lab/VQA``); without
it only our timings are printed.

The official code is Python 2. It is not modified on disk; a runner written to a temporary folder
at run time loads copies of its two files with two documented shims, printed with the results:
tabs expanded to 8 columns (Python 2's rule; Python 3 rejects their mix of tabs and spaces) and
``print x`` statements rewritten as ``print(x)``. Nothing else changes.

Data: ``--questions`` generated questions (default 200,000, about the 214k of VQA v2 val) with 10
human answers each: ``--identical`` of them with ten identical answers, the others written the
ways annotators write them (case, trailing punctuation, articles, number words, contractions
without apostrophe, hyphens, commas in numbers); predictions are right or wrong and written
loosely too. The JSON files are written to a temporary folder.

Contenders, interleaved for ``--repeats`` rounds in rotating order (no warm-up run):

- ``official, process``: the runner above as a child process (``sys.executable``);
- ``mmrnn eval vqa, process``: ``python -m apps.cli eval vqa ... --out`` as a child process;
- ``official, in-process`` and ``evaluate_vqa, in-process``: the same two evaluations called in
  this process on the same files (interpreter start and imports excluded).

Prints the median seconds of each, the median ratios (official/ours; process vs process is the
headline) with their spread (min-max) and the load average, then whether the accuracies agree
(overall, per answer type and per question type exactly; per question within 0.005 points).

    OMP_NUM_THREADS=1 python benchmarks/vqa_eval_speed.py --official-dir /path/to/VQA
    python benchmarks/vqa_eval_speed.py --questions 20000 --repeats 3 --official-dir /path/to/VQA
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from timing import Load, interleaved, machine_line, ratio_text

from multimodal_rnn.metrics.vqa import VQAEvaluation, evaluate_vqa
from multimodal_rnn.text.answers import CONTRACTIONS, NUMBER_WORDS

ROOT = Path(__file__).resolve().parent.parent

RUNNER = r'''"""The official VQA evaluation (GT-Vision-Lab/VQA) under Python 3, driven as vqaEvalDemo.py does.

usage: python official_vqa_eval.py OFFICIAL_DIR QUESTIONS ANNOTATIONS RESULTS OUT_DIR

Shims, applied to in-memory copies of vqa.py and vqaEval.py (the checkout is not modified):
tabs expanded to 8 columns (Python 2's rule), and "print x" statements rewritten as "print(x)".
"""
import json
import os
import re
import sys
import types

SHIMS = "tabs expanded to 8 columns; print statements rewritten as print() calls"
PRINT_STATEMENT = re.compile(r"^(\s*)print (.*)$")


def load(name, path):
    with open(path) as handle:
        lines = [PRINT_STATEMENT.sub(r"\1print(\2)", line.expandtabs(8)) for line in handle.read().splitlines()]
    module = types.ModuleType(name)
    module.__file__ = path
    exec(compile("\n".join(lines) + "\n", path, "exec"), module.__dict__)
    sys.modules[name] = module
    return module


def evaluate(official_dir, quesFile, annFile, resFile, out_dir):
    VQA = load("vqa", os.path.join(official_dir, "PythonHelperTools", "vqaTools", "vqa.py")).VQA
    evaluation_tools = os.path.join(official_dir, "PythonEvaluationTools", "vqaEvaluation")
    VQAEval = load("vqaEval", os.path.join(evaluation_tools, "vqaEval.py")).VQAEval
    vqa = VQA(annFile, quesFile)
    vqaRes = vqa.loadRes(resFile, quesFile)
    vqaEval = VQAEval(vqa, vqaRes, n=2)
    vqaEval.evaluate()
    print("\n")
    print("Overall Accuracy is: %.02f\n" % (vqaEval.accuracy["overall"]))
    print("Per Question Type Accuracy is the following:")
    for quesType in vqaEval.accuracy["perQuestionType"]:
        print("%s : %.02f" % (quesType, vqaEval.accuracy["perQuestionType"][quesType]))
    print("\n")
    print("Per Answer Type Accuracy is the following:")
    for ansType in vqaEval.accuracy["perAnswerType"]:
        print("%s : %.02f" % (ansType, vqaEval.accuracy["perAnswerType"][ansType]))
    print("\n")
    for name, value in (("accuracy", vqaEval.accuracy), ("evalQA", vqaEval.evalQA),
                        ("evalQuesType", vqaEval.evalQuesType), ("evalAnsType", vqaEval.evalAnsType)):
        with open(os.path.join(out_dir, name + ".json"), "w") as handle:
            json.dump(value, handle)


if __name__ == "__main__":
    evaluate(*sys.argv[1:6])
'''
"""The runner of the official tool, written to a temporary folder at run time (see the module docstring)."""


NUMBERS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "12", "20", "100", "1000", "3.5"]
OTHER = [
    "red",
    "white",
    "black and white",
    "dog",
    "cat",
    "t-shirt",
    "fire hydrant",
    "frisbee",
    "tennis",
    "pizza",
    "don't know",
    "what's that",
    "man's",
    "grass",
    "table",
    "left",
    "right",
    "skateboarding",
    "10:30",
    "wii",
]
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
            answers = [loosely_written(main if rng.random() < 0.6 else rng.choice(pool), rng) for _ in range(10)]
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
        {
            "info": {},
            "license": {},
            "task_type": "Open-Ended",
            "data_type": "mscoco",
            "data_subtype": "val2014",
            "questions": questions,
        },
        {"annotations": annotations},
        results,
    )


def write_files(folder: Path, data: tuple[Any, ...]) -> dict[str, Path]:
    """The questions, annotations and results as JSON files in ``folder``; their paths by name."""
    paths = {name: folder / f"{name}.json" for name in ("questions", "annotations", "results")}
    for path, value in zip(paths.values(), data):
        path.write_text(json.dumps(value))
    return paths


def run_child(command: list[str]) -> None:
    """Run a child process with one CPU thread for torch/numpy; its output is discarded unless it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def contenders(paths: dict[str, Path], folder: Path, official_dir: Path | None) -> dict[str, Callable[[], Any]]:
    """The timed calls by name: our CLI and library, and (with ``official_dir``) the official tool."""
    files = [str(paths[name]) for name in ("questions", "annotations", "results")]
    ours_out = folder / "ours.json"
    ours_cli = [
        sys.executable,
        "-m",
        "apps.cli",
        "eval",
        "vqa",
        "--questions",
        files[0],
        "--annotations",
        files[1],
        "--results",
        files[2],
        "--out",
        str(ours_out),
    ]
    runs: dict[str, Callable[[], Any]] = {}
    if official_dir is not None:
        runner = folder / "official_vqa_eval.py"
        runner.write_text(RUNNER)
        official_out = folder / "official"
        official_out.mkdir(exist_ok=True)
        namespace: dict[str, Any] = {}
        exec(compile(RUNNER, str(runner), "exec"), namespace)

        def official_in_process() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                namespace["evaluate"](str(official_dir), *files, str(official_out))

        runs["official, process"] = lambda: run_child(
            [sys.executable, str(runner), str(official_dir), *files, str(official_out)]
        )
        runs["official, in-process"] = official_in_process
    runs["mmrnn eval vqa, process"] = lambda: run_child(ours_cli)
    runs["evaluate_vqa, in-process"] = lambda: evaluate_vqa(*paths.values())
    return runs


def agreement(ours: VQAEvaluation, official_out: Path) -> str:
    """Whether our accuracies equal the official tool's (aggregates exactly, per question to its 2 decimals)."""
    accuracy = json.loads((official_out / "accuracy.json").read_text())
    per_question = json.loads((official_out / "evalQA.json").read_text())
    aggregates = (
        ours.overall == accuracy["overall"]
        and dict(ours.per_answer_type) == accuracy["perAnswerType"]
        and dict(ours.per_question_type) == accuracy["perQuestionType"]
    )
    difference = max(abs(100 * ours.per_question[int(q)] - value) for q, value in per_question.items())
    same_ids = {int(q) for q in per_question} == set(ours.per_question)
    return (
        f"overall {ours.overall:.2f} (official {accuracy['overall']:.2f}); aggregates identical: {aggregates}; "
        f"same question ids: {same_ids}; max |per-question difference|: {difference:.3f} points "
        f"(official rounds to 0.01)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-dir", type=Path, help="a checkout of github.com/GT-Vision-Lab/VQA")
    parser.add_argument("--questions", type=int, default=200_000)
    parser.add_argument("--identical", type=float, default=0.35, help="share of questions with 10 identical answers")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    official_dir = args.official_dir.resolve() if args.official_dir is not None else None
    if official_dir is not None and not (official_dir / "PythonEvaluationTools" / "vqaEvaluation").is_dir():
        raise SystemExit(
            f"{official_dir}: not a checkout of GT-Vision-Lab/VQA (no PythonEvaluationTools/vqaEvaluation)"
        )

    print(machine_line())
    if official_dir is None:
        print(
            "no --official-dir: timing ours only. For the baseline, get the official tool with\n"
            "  git clone https://github.com/GT-Vision-Lab/VQA /tmp/vqa_official\n"
            "and pass --official-dir /tmp/vqa_official"
        )
    else:
        print(
            f"official tool: {official_dir}, run under Python {sys.version.split()[0]} with shims: "
            "tabs expanded to 8 columns, print statements rewritten as print() calls (copies in memory; "
            "the checkout is not modified)"
        )
    start = time.perf_counter()
    data = synthetic_vqa(args.questions, args.identical, args.seed)
    print(
        f"{args.questions} generated questions x 10 answers ({args.identical:.0%} all identical), "
        f"built in {time.perf_counter() - start:.1f} s"
    )
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        paths = write_files(folder, data)
        runs = contenders(paths, folder, official_dir)
        with Load() as load:
            rounds = interleaved(runs, args.repeats, warmup=0)
        ours = evaluate_vqa(*paths.values())
        check = agreement(ours, folder / "official") if official_dir is not None else None

    n = args.questions
    print(f"{'run':<26} {'median s':>9} {'questions/s':>12}   ({args.repeats} interleaved rounds, {load})")
    for name in runs:
        print(f"{name:<26} {rounds.median(name):>9.2f} {n / rounds.median(name):>12,.0f}")
    if official_dir is not None:
        pairs = [
            ("process vs process (headline)", "official, process", "mmrnn eval vqa, process"),
            ("in-process vs in-process", "official, in-process", "evaluate_vqa, in-process"),
            ("official process vs our library", "official, process", "evaluate_vqa, in-process"),
        ]
        for title, baseline, candidate in pairs:
            print(f"official/ours, {title:<33} {ratio_text(rounds.ratio(baseline, candidate))}  {load}")
        print(check)


if __name__ == "__main__":
    main()
