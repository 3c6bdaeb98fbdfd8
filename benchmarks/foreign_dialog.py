"""The default dialog model against the other dialog models on foreign VisDial data.

Writes the foreign VisDial v1.0 data of ``tests/foreign_visdial.py`` (the pictures and questions
of the foreign VQA data as 10-round dialogs, 100 options per round), then for each registered
dialog model runs the real command line one after the other: ``mmrnn train dialog --threads 1``
with only the data options (and ``--model`` for the alternatives), ``mmrnn predict dialog`` on the
test split with ``best.safetensors`` and ``mmrnn eval dialog``. Adds a picture-blind baseline
(the options ranked by how often each was the answer to the same question text in training, then
by how often it was any answer) and prints one table row per variant: MRR, R@1/5/10 (%), mean
rank, the MRR of the same weights when every test dialog is shown another dialog's picture
(``--images-list``), training wall time and the load average before/after.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/foreign_dialog.py --work /tmp/foreign \\
        [--epochs 4] [--only NAME ...] [--train 600]

``--dry-run`` makes tiny data and one epoch (a smoke test). Finished runs in ``--work`` are reused.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foreign_defaults import mmrnn, run_folder, table, trained  # noqa: E402
from timing import machine_line  # noqa: E402

from tests.foreign_visdial import write_foreign_visdial  # noqa: E402

DIALOG_VARIANTS: dict[str, list[str]] = {
    "default": [],
    "hre_disc": ["--model", "hre_disc"],
    "lf_gen": ["--model", "lf_gen"],
    "hre_gen": ["--model", "hre_gen"],
}
"""Dialog variant name -> the options it adds to ``mmrnn train dialog``."""


def dialog_split(data: Path, split: str, prefix: str = "") -> list[str]:
    return [
        f"--{prefix}dialogs",
        str(data / f"visdial_{split}.json"),
        f"--{prefix}images",
        str(data / "images" / split),
        f"--{prefix}image-pattern",
        f"COCO_{split}2014_{{image_id:012d}}.jpg",
    ]


def scores(run: Path, submission: Path, data: Path) -> dict[str, object]:
    """``mmrnn eval dialog`` of ``submission`` on the test split, as table columns."""
    out = run / "test_eval.json"
    mmrnn(
        "eval",
        "dialog",
        "--threads",
        "1",
        "--dialogs",
        str(data / "visdial_test.json"),
        "--results",
        str(submission),
        "--out",
        str(out),
        log=run / "log.txt",
    )
    metrics = json.loads(out.read_text())["metrics"]
    return {
        "MRR": f"{float(metrics['mrr']):.3f}",
        "R@1": 100 * float(metrics["r@1"]),
        "R@5": 100 * float(metrics["r@5"]),
        "R@10": 100 * float(metrics["r@10"]),
        "mean rank": float(metrics["mean_rank"]),
    }


def run_dialog(data: Path, work: Path, name: str, options: list[str], epochs: int) -> dict[str, object]:
    run = run_folder(work, "dialog", name)
    train = [
        "train",
        "dialog",
        "--threads",
        "1",
        "--epochs",
        str(epochs),
        *options,
        *dialog_split(data, "train"),
        *dialog_split(data, "val", "val-"),
    ]
    timing = trained(run, train, run / "log.txt")
    weights = ["predict", "dialog", "--threads", "1", "--weights", str(run / "best.safetensors")]
    submission, shuffled = run / "test_submission.json", run / "test_submission_shuffled.json"
    if not submission.is_file():
        mmrnn(*weights, "--out", str(submission), *dialog_split(data, "test"), log=run / "log.txt")
    if not shuffled.is_file():
        mmrnn(
            *weights,
            "--out",
            str(shuffled),
            *dialog_split(data, "test")[:4],
            "--images-list",
            str(shuffled_pictures(data)),
            log=run / "log.txt",
        )
    blind = scores(run, shuffled, data)["MRR"]
    return {
        "variant": name,
        "options": " ".join(options) or "(none)",
        **scores(run, submission, data),
        "MRR, pictures shuffled": blind,
        **timing,
    }


def shuffled_pictures(data: Path) -> Path:
    """An images list of the test split giving each dialog the picture of the next one (the last: the first's)."""
    path = data / "test_images_shuffled.json"
    ids = [d["image_id"] for d in json.loads((data / "visdial_test.json").read_text())["data"]["dialogs"]]
    images = [{"id": i, "file_name": f"COCO_test2014_{j:012d}.jpg"} for i, j in zip(ids, ids[1:] + ids[:1])]
    path.write_text(json.dumps({"images": images}))
    return path


def blind_row(data: Path, work: Path) -> dict[str, object]:
    """The picture-blind baseline: answer frequency per question text, then overall, from the training split."""
    run = run_folder(work, "dialog", "picture blind")
    run.mkdir(parents=True, exist_ok=True)
    train = json.loads((data / "visdial_train.json").read_text())["data"]
    by_question: dict[str, Counter[str]] = defaultdict(Counter)
    overall: Counter[str] = Counter()
    for dialog in train["dialogs"]:
        for turn in dialog["dialog"]:
            answer = train["answers"][turn["answer"]]
            by_question[train["questions"][turn["question"]]][answer] += 1
            overall[answer] += 1
    test = json.loads((data / "visdial_test.json").read_text())["data"]
    submission = []
    for dialog in test["dialogs"]:
        for r, turn in enumerate(dialog["dialog"]):
            seen = by_question[test["questions"][turn["question"]]]
            texts = [test["answers"][i] for i in turn["answer_options"]]
            order = sorted(range(len(texts)), key=lambda k: (-seen[texts[k]], -overall[texts[k]], k))
            ranks = [0] * len(texts)
            for rank, k in enumerate(order, 1):
                ranks[k] = rank
            submission.append({"image_id": dialog["image_id"], "round_id": r + 1, "ranks": ranks})
    path = run / "test_submission.json"
    path.write_text(json.dumps(submission))
    row = {"variant": "picture blind (answer frequency, no model)", "options": "-", **scores(run, path, data)}
    return {**row, "MRR, pictures shuffled": row["MRR"], "train_min": None, "load": "-"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the data, runs and logs")
    parser.add_argument("--epochs", type=int, default=4, help="(the default of mmrnn train dialog)")
    parser.add_argument("--train", type=int, default=600, help="training pictures (val 100, test 150)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these variants")
    parser.add_argument("--dry-run", action="store_true", help="tiny data and one epoch")
    args = parser.parse_args()
    sizes = {"train": 40, "val": 10, "test": 10} if args.dry_run else {"train": args.train, "val": 100, "test": 150}
    epochs = 1 if args.dry_run else args.epochs
    print(machine_line())
    data = args.work / "dialog"
    if not (data / "images").is_dir():
        data.parent.mkdir(parents=True, exist_ok=True)
        print("dialog data:", write_foreign_visdial(data, **sizes))
    rows = [
        run_dialog(data, args.work, name, options, epochs)
        for name, options in DIALOG_VARIANTS.items()
        if not args.only or name in args.only
    ]
    rows.append(blind_row(data, args.work))
    print(f"\ndialog, {epochs} epochs, {sizes['train']} training pictures\n" + table(rows))


if __name__ == "__main__":
    main()
