"""The default models against their alternatives on foreign data (not the shapes world).

Writes the foreign VQA v2 and COCO-captions data of ``tests/foreign_data.py`` (other sizes,
textured backgrounds, other objects, colours, answers and question styles), then for each
variant runs the real command line one after the other: ``mmrnn train vqa`` (or ``train
caption``) with only the data options and the variant's own options, ``mmrnn predict`` on the
test split and ``mmrnn eval`` on it (official VQA accuracy; CIDEr-D and BLEU-4 of beam-3
captions). Prints one table row per variant: test scores, training wall time and the load
average before/after.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/foreign_defaults.py --work /tmp/foreign \\
        [--task vqa|caption|both] [--epochs 12] [--only NAME ...] [--train 2000]

``--epochs`` is given to every variant alike (the defaults' own 40 / 10 epochs take longer than
a shared 2-core machine allows); ``--dry-run`` makes tiny data and one epoch (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import machine_line  # noqa: E402

from tests.foreign_data import vqa_split_options, write_foreign_captions, write_foreign_vqa  # noqa: E402

VQA_VARIANTS: dict[str, list[str]] = {
    "default": [],
    "saaa, normalize_image=true (the old default)": ["--model", "saaa", "--set", "normalize_image=true"],
    "saaa, normalize_image=false": ["--model", "saaa", "--set", "normalize_image=false"],
    "saaa_rel, normalize_image=true": ["--model", "saaa_rel", "--set", "normalize_image=true"],
    "saaa_rel, normalize_image=false": ["--model", "saaa_rel", "--set", "normalize_image=false"],
    "saaa_rel, the README recipe": [
        "--model",
        "saaa_rel",
        "--set",
        "embed_size=64",
        "--set",
        "hidden_size=128",
        "--set",
        "attention_size=128",
        "--set",
        "classifier_size=256",
        "--set",
        "normalize_image=false",
        "--set",
        'encoder={"channels": [32, 64, 64]}',
    ],
}
"""VQA variant name -> the options it adds to ``mmrnn train vqa``."""

CAPTION_VARIANTS: dict[str, list[str]] = {
    "default": [],
    "show_tell": ["--model", "show_tell"],
    "updown": ["--model", "updown"],
}
"""Caption variant name -> the options it adds to ``mmrnn train caption``."""


def scored_vqa_run(
    run: Path,
    name: str,
    options: list[str],
    timing: dict[str, object],
    test_data: list[str],
    questions: str,
    annotations: str,
    log: Path,
) -> dict[str, object]:
    """``mmrnn predict vqa`` with the run's best checkpoint on the test data options, then
    ``mmrnn eval vqa`` on its results; returns the table row."""
    results = run / "test_results.json"
    weights = ["--threads", "1", "--weights", str(run / "best.safetensors")]
    mmrnn("predict", "vqa", *weights, *test_data, "--out", str(results), log=log)
    evaluation = run / "test_eval.json"
    mmrnn(
        "eval",
        "vqa",
        "--questions",
        questions,
        "--annotations",
        annotations,
        "--results",
        str(results),
        "--out",
        str(evaluation),
        log=log,
    )
    return vqa_row(name, options, evaluation, timing)


def vqa_row(name: str, options: list[str], eval_json: Path, timing: dict[str, object]) -> dict[str, object]:
    """One table row: the variant, its options and the test scores ``mmrnn eval vqa`` wrote."""
    scores = json.loads(eval_json.read_text())
    per_type = scores["per_answer_type"]
    return {
        "variant": name,
        "options": " ".join(options) or "(none)",
        "overall": scores["overall"],
        "yes/no": per_type.get("yes/no"),
        "number": per_type.get("number"),
        "other": per_type.get("other"),
        **timing,
    }


def mmrnn(*args: str, log: Path) -> None:
    """Run ``python -m apps.cli ARGS --threads 1``-style commands, output appended to ``log``; exit on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write("$ mmrnn " + " ".join(args) + "\n")
        out.flush()
        done = subprocess.run(
            [sys.executable, "-m", "apps.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    if done.returncode:
        sys.exit(f"mmrnn {' '.join(args[:2])} failed (exit {done.returncode}); see {log}")


def run_folder(work: Path, task: str, name: str) -> Path:
    return work / "runs" / (task + "_" + "".join(c if c.isalnum() else "_" for c in name))


def trained(run: Path, train: list[str], log: Path) -> dict[str, object]:
    """Run the ``train`` command into ``run`` (unless a finished run is there) and return its timing."""
    timing = run / "timing.json"
    if (run / "test_eval.json").is_file() and timing.is_file():
        return json.loads(timing.read_text())
    start, load = time.time(), os.getloadavg()[0]
    mmrnn(*train, "--out", str(run), log=log)
    result = {"train_min": (time.time() - start) / 60, "load": f"{load:.1f}->{os.getloadavg()[0]:.1f}"}
    run.mkdir(parents=True, exist_ok=True)
    timing.write_text(json.dumps(result))
    return result


def run_vqa(data: Path, work: Path, name: str, options: list[str], epochs: int) -> dict[str, object]:
    run = run_folder(work, "vqa", name)
    log = run.with_suffix(".log")
    timing = trained(
        run,
        [
            "train",
            "vqa",
            "--threads",
            "1",
            "--epochs",
            str(epochs),
            *options,
            *vqa_split_options(data, "train"),
            *vqa_split_options(data, "val", "val-"),
        ],
        log,
    )
    test = vqa_split_options(data, "test")
    return scored_vqa_run(run, name, options, timing, test[:2] + test[4:], test[1], test[3], log)


def run_shapes_vqa(data: Path, work: Path, name: str, options: list[str], epochs: int) -> dict[str, object]:
    """The same comparison on a shapes world made by ``mmrnn data shapes`` (its own data options)."""
    run = run_folder(work, "shapes_vqa", name)
    log = run.with_suffix(".log")
    timing = trained(
        run, ["train", "vqa", "--threads", "1", "--epochs", str(epochs), *options, "--shapes-dir", str(data)], log
    )
    return scored_vqa_run(
        run,
        name,
        options,
        timing,
        ["--shapes-dir", str(data), "--split", "test"],
        str(data / "vqa_questions_test.json"),
        str(data / "vqa_annotations_test.json"),
        log,
    )


def write_shapes(out: Path, *, train: int, val: int, test: int) -> str:
    mmrnn(
        "data",
        "shapes",
        "--out",
        str(out),
        "--train",
        str(train),
        "--val",
        str(val),
        "--test",
        str(test),
        log=out.parent / "shapes_data.log",
    )
    return f"shapes world, {train}/{val}/{test} images"


def question_only_row(data: Path, work: Path) -> dict[str, object]:
    """The answer prior: each test question gets its text's most frequent training answer (``mmrnn eval vqa``)."""
    questions = {
        q["question_id"]: q["question"] for q in json.loads((data / "train_questions.json").read_text())["questions"]
    }
    answers: dict[str, Counter[str]] = defaultdict(Counter)
    for annotation in json.loads((data / "train_annotations.json").read_text())["annotations"]:
        answers[questions[annotation["question_id"]]][annotation["multiple_choice_answer"]] += 1
    test = json.loads((data / "test_questions.json").read_text())["questions"]
    results, out = work / "runs" / "question_only_results.json", work / "runs" / "question_only_eval.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        json.dumps(
            [
                {
                    "question_id": q["question_id"],
                    "answer": (answers.get(q["question"]) or Counter(["no"])).most_common(1)[0][0],
                }
                for q in test
            ]
        )
    )
    mmrnn(
        "eval",
        "vqa",
        "--questions",
        str(data / "test_questions.json"),
        "--annotations",
        str(data / "test_annotations.json"),
        "--results",
        str(results),
        "--out",
        str(out),
        log=results.with_suffix(".log"),
    )
    scores = json.loads(out.read_text())
    per_type = scores["per_answer_type"]
    return {
        "variant": "question only (answer prior, no model)",
        "options": "-",
        "overall": scores["overall"],
        "yes/no": per_type.get("yes/no"),
        "number": per_type.get("number"),
        "other": per_type.get("other"),
        "train_min": None,
        "load": "-",
    }


def run_caption(data: Path, work: Path, name: str, options: list[str], epochs: int) -> dict[str, object]:
    run = run_folder(work, "caption", name)
    log = run.with_suffix(".log")
    timing = trained(
        run,
        [
            "train",
            "caption",
            "--threads",
            "1",
            "--epochs",
            str(epochs),
            *options,
            "--coco-train",
            str(data / "captions_train.json"),
            str(data / "images" / "train"),
            "--coco-val",
            str(data / "captions_val.json"),
            str(data / "images" / "val"),
        ],
        log,
    )
    results = run / "test_results.json"
    annotations = str(data / "captions_test.json")
    mmrnn(
        "predict",
        "caption",
        "--threads",
        "1",
        "--weights",
        str(run / "best.safetensors"),
        "--annotations",
        annotations,
        "--image-dir",
        str(data / "images" / "test"),
        "--out",
        str(results),
        log=log,
    )
    mmrnn(
        "eval",
        "caption",
        "--no-meteor",
        "--results",
        str(results),
        "--annotations",
        annotations,
        "--out",
        str(run / "test_eval.json"),
        log=log,
    )
    scores = json.loads((run / "test_eval.json").read_text())["metrics"]
    return {
        "variant": name,
        "options": " ".join(options) or "(none)",
        "CIDEr-D": scores["CIDEr"],
        "BLEU-4": scores["Bleu_4"],
        **timing,
    }


def table(rows: list[dict[str, object]]) -> str:
    """A markdown table of ``rows`` (floats with 2 decimals, None as a dash)."""
    keys = list(rows[0])
    cells = [
        [("-" if row[k] is None else f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k])) for k in keys]
        for row in rows
    ]
    return "\n".join(
        ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)] + ["| " + " | ".join(c) + " |" for c in cells]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the data, runs and logs")
    parser.add_argument(
        "--task",
        choices=["vqa", "caption", "both", "shapes-vqa"],
        default="both",
        help="both: vqa and caption on foreign data; shapes-vqa: the VQA variants on a shapes world",
    )
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--train", type=int, default=2000, help="training pictures (val 200, test 300)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these variants")
    parser.add_argument("--dry-run", action="store_true", help="tiny data and one epoch")
    args = parser.parse_args()
    sizes = {"train": 40, "val": 10, "test": 10} if args.dry_run else {"train": args.train, "val": 200, "test": 300}
    epochs = 1 if args.dry_run else args.epochs
    print(machine_line())
    for task, variants, write, run in (
        ("vqa", VQA_VARIANTS, write_foreign_vqa, run_vqa),
        ("caption", CAPTION_VARIANTS, write_foreign_captions, run_caption),
        ("shapes-vqa", VQA_VARIANTS, write_shapes, run_shapes_vqa),
    ):
        if args.task not in (task, "both") or (task == "shapes-vqa" and args.task != task):
            continue
        data = args.work / task
        if not (data / "images").is_dir():
            data.parent.mkdir(parents=True, exist_ok=True)
            print(f"{task} data:", write(data, **sizes))
        rows = [
            run(data, args.work, name, options, epochs)
            for name, options in variants.items()
            if not args.only or name in args.only
        ]
        if task == "vqa":
            rows.append(question_only_row(data, args.work))
        if rows:
            print(f"\n{task}, {epochs} epochs, {sizes['train']} training pictures\n" + table(rows))


if __name__ == "__main__":
    main()
