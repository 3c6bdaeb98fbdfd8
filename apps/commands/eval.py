"""``mmrnn eval``: score predictions against official annotations with the official metrics.

One sub-command per task (``mmrnn eval caption ...``); each registers its own parser and sets
``_run_task``, which :func:`run` calls.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from multimodal_rnn.errors import InputError
from multimodal_rnn.files import write_json
from multimodal_rnn.metrics.caption import evaluate_captions

NAME = "eval"
HELP = "score predictions against official annotations (captioning: BLEU, METEOR, ROUGE-L, CIDEr)"

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``mmrnn eval <task>``; for now the task is ``caption``."""
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
    caption.set_defaults(_run_task=_run_caption)


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
    print(format_metrics_table(report))
    if args.out is not None:
        try:
            write_json(args.out, report)
        except OSError as exc:
            raise InputError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the chosen task's evaluation; returns the exit status."""
    return int(args._run_task(args))
