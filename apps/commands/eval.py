"""``mmrnn eval``: score predictions against official annotations with the official metrics.

One sub-command per task (``mmrnn eval caption ...``); each registers its own parser and sets
``_run_task``, which :func:`run` calls.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from multimodal_rnn.errors import InputError
from multimodal_rnn.files import read_json, write_json
from multimodal_rnn.metrics.faithfulness import faithfulness, read_scene_graphs
from multimodal_rnn.metrics.caption import evaluate_captions
from multimodal_rnn.metrics.vqa import VQAEvaluation, evaluate_vqa
from multimodal_rnn.datasets.visdial import check_dense_rounds, read_dense_annotations, read_visdial
from multimodal_rnn.metrics.dialog import METRIC_NAMES, DialogEvaluation, evaluate_submission, read_submission

NAME = "eval"
HELP = ("score predictions against official annotations (captioning: BLEU, METEOR, ROUGE-L, CIDEr; VQA accuracy; "
        "visual dialog: R@k, MRR, mean rank, NDCG)")

_CAPTION_DESCRIPTION = """\
COCO caption evaluation, with the numbers of pycocoevalcap's COCOEvalCap: BLEU-1..4, METEOR 1.5
(needs Java and pycocoevalcap; about 5-20 s to start), ROUGE-L and CIDEr-D. Both sides are
tokenized the COCO way (PTB tokenizer, lowercased, punctuation dropped). The results must hold
exactly one caption for every annotated image, and nothing else."""

_CAPTION_EPILOG = """\
examples:
  mmrnn eval caption --results val_results.json --annotations captions_val2014.json
  mmrnn eval caption --results r.json --annotations captions_val.json --out metrics.json --no-meteor

results format: [{"image_id": int, "caption": str}, ...]
--out writes {"metrics", "unavailable", "num_images", "per_image"} as JSON."""

_VQA_DESCRIPTION = """\
VQA accuracy with the numbers of the official evaluation (GT-Vision-Lab/VQA vqaEval.py): per
question, the mean over the 10 leave-one-out subsets of the human answers of min(1, matches / 3),
after the official answer normalization (applied only when the human answers differ). Prints the
overall accuracy and the accuracy per answer type and per question type, in percent. The results
must hold exactly one answer for every annotated question, and nothing else."""

_VQA_EPILOG = """\
examples:
  mmrnn eval vqa --questions v2_OpenEnded_mscoco_val2014_questions.json \\
      --annotations v2_mscoco_val2014_annotations.json --results val_results.json
  mmrnn eval vqa --questions q.json --annotations a.json --results r.json --out accuracy.json

results format: [{"question_id": int, "answer": str}, ...]
--out writes {"overall", "per_answer_type", "per_question_type", "answer_type_counts",
"question_type_counts", "num_questions", "per_question"} as JSON; per_question accuracies are 0..1."""

_DIALOG_DESCRIPTION = """\
VisDial v1.0 retrieval metrics with the numbers of visdial-challenge-starter-pytorch metrics.py:
the rank of the ground-truth option among the 100 (1-based), R@1/5/10 (percent), mean rank and
MRR over the submitted rounds that have a ground-truth answer, and with --dense NDCG over the
densely annotated rounds (k = options with relevance > 0). Every submitted round must be a
round of the dialogs file; every densely annotated round must be submitted."""

_DIALOG_EPILOG = """\
examples:
  mmrnn eval dialog --dialogs visdial_1.0_val.json --results submission.json \\
      --dense visdial_1.0_val_dense_annotations.json
  mmrnn eval dialog --dialogs visdial_val.json --results submission.json --out metrics.json

results format: [{"image_id": int, "round_id": int (1-based), "ranks": [100 ints, a permutation of 1..100]}, ...]
--out writes {"metrics", "num_rounds", "num_dense_rounds", "per_round"} as JSON; recalls are 0..1 there."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``mmrnn eval <task>``: ``caption``, ``vqa`` and ``dialog``."""
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    caption = tasks.add_parser(
        "caption",
        help="COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr)",
        description=_CAPTION_DESCRIPTION,
        epilog=_CAPTION_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    caption.add_argument("--results", required=True, type=Path, metavar="JSON", help="COCO results file")
    caption.add_argument(
        "--annotations", required=True, type=Path, metavar="JSON", help="COCO captions annotation file"
    )
    caption.add_argument("--out", type=Path, metavar="JSON", help="also write the metrics and per-image scores here")
    caption.add_argument("--no-meteor", action="store_true", help="skip METEOR (no Java start-up)")
    caption.add_argument("--scenes", type=Path, metavar="JSON",
                         help="shapes-world scene graphs (scenes_{split}.json): also report faithfulness, the share "
                              "of captions whose every claim is true of the scene")
    caption.set_defaults(_run_task=_run_caption)

    vqa = tasks.add_parser(
        "vqa",
        help="VQA accuracy (overall, per answer type, per question type)",
        description=_VQA_DESCRIPTION,
        epilog=_VQA_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    vqa.add_argument("--questions", required=True, type=Path, metavar="JSON", help="VQA questions file")
    vqa.add_argument("--annotations", required=True, type=Path, metavar="JSON", help="VQA annotations file")
    vqa.add_argument("--results", required=True, type=Path, metavar="JSON", help="VQA results file")
    vqa.add_argument("--out", type=Path, metavar="JSON", help="also write the accuracies and per-question scores here")
    vqa.set_defaults(_run_task=_run_vqa)

    dialog = tasks.add_parser(
        "dialog",
        help="visual dialog retrieval metrics (R@1/5/10, MRR, mean rank, NDCG)",
        description=_DIALOG_DESCRIPTION,
        epilog=_DIALOG_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dialog.add_argument("--dialogs", required=True, type=Path, metavar="JSON", help="VisDial v1.0 dialogs file")
    dialog.add_argument("--results", required=True, type=Path, metavar="JSON", help="submission (ranks per round)")
    dialog.add_argument("--dense", type=Path, metavar="JSON", help="dense relevance annotations: also report NDCG")
    dialog.add_argument("--out", type=Path, metavar="JSON", help="also write the metrics and per-round ranks here")
    dialog.set_defaults(_run_task=_run_dialog)


def format_metrics_table(report: dict[str, Any]) -> str:
    """A two-column (metric, value) text table of an evaluation report's ``metrics``."""
    rows = [("metric", "value")]
    for name, value in report["metrics"].items():
        if value is None:
            rows.append((name, f"n/a ({report['unavailable'].get(name, 'unavailable')})"))
        else:
            rows.append((name, f"{value:.4f}"))
    rows.append(("images", str(report["num_images"])))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _run_caption(args: argparse.Namespace) -> int:
    report = evaluate_captions(args.results, args.annotations, meteor=not args.no_meteor)
    if args.scenes is not None:
        results = {entry["image_id"]: entry["caption"] for entry in read_json(args.results)}
        verdicts = faithfulness(results, read_scene_graphs(args.scenes))
        report["metrics"]["Faithfulness"] = verdicts.score
        report["faithfulness_failures"] = verdicts.failure_counts()
    print(format_metrics_table(report))
    if args.out is not None:
        try:
            write_json(args.out, report)
        except OSError as exc:
            raise InputError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
    return 0


def format_vqa_tables(evaluation: VQAEvaluation) -> str:
    """The overall accuracy, then (type, accuracy, questions) tables per answer and per question type."""
    lines = [f"overall accuracy  {evaluation.overall:.2f}  ({evaluation.num_questions} questions)"]
    tables = [
        ("answer type", evaluation.per_answer_type, evaluation.answer_type_counts),
        ("question type", evaluation.per_question_type, evaluation.question_type_counts),
    ]
    for title, accuracies, counts in tables:
        width = max(len(title), *(len(name) for name in accuracies))
        lines += ["", f"{title:<{width}}  {'accuracy':>8}  {'questions':>9}"]
        lines += [f"{name:<{width}}  {accuracies[name]:>8.2f}  {counts[name]:>9}" for name in sorted(accuracies)]
    return "\n".join(lines)


def _run_vqa(args: argparse.Namespace) -> int:
    evaluation = evaluate_vqa(args.questions, args.annotations, args.results)
    print(format_vqa_tables(evaluation))
    if args.out is not None:
        try:
            write_json(args.out, evaluation.to_dict())
        except OSError as exc:
            raise InputError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
    return 0


_DIALOG_LABELS = {"r@1": "R@1", "r@5": "R@5", "r@10": "R@10", "mean_rank": "Mean rank", "mrr": "MRR", "ndcg": "NDCG"}


def format_dialog_table(evaluation: DialogEvaluation) -> str:
    """A (metric, value) table: recalls in percent, then mean rank, MRR and NDCG; n/a when not computable."""
    rows = [("metric", "value")]
    for name in METRIC_NAMES:
        value = evaluation.metrics[name]
        label = _DIALOG_LABELS[name]
        if value is None:
            reason = "no --dense annotations" if name == "ndcg" else "no submitted round has a ground truth"
            rows.append((label, f"n/a ({reason})"))
        elif name.startswith("r@"):
            rows.append((label, f"{100.0 * value:.2f}"))
        else:
            rows.append((label, f"{value:.4f}"))
    rows += [("rounds", str(evaluation.num_rounds)), ("dense rounds", str(evaluation.num_dense_rounds))]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _run_dialog(args: argparse.Namespace) -> int:
    data = read_visdial(args.dialogs)
    dense = None
    if args.dense is not None:
        dense = read_dense_annotations(args.dense)
        check_dense_rounds(data, dense, where=str(args.dense))
    evaluation = evaluate_submission(read_submission(args.results), data.gt_indices(), dense, where=str(args.results))
    print(format_dialog_table(evaluation))
    if args.out is not None:
        try:
            write_json(args.out, evaluation.to_dict())
        except OSError as exc:
            raise InputError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the chosen task's evaluation; returns the exit status."""
    return int(args._run_task(args))
