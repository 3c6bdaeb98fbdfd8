"""Print the history ablation of a dialog model: R@1 and MRR with and without the dialog history.

    python -m apps.dialog_ablation --weights W --shapes-dir DIR --split test
    python -m apps.dialog_ablation --weights W --dialogs visdial_1.0_val.json --images VisualDialog_val2018

Rounds are split into those whose question refers back to the history (``what color is it``,
``what about the square``) and the others; each is ranked with the full history, with the
caption only, and with no history at all (see :mod:`multimodal_rnn.tasks.dialog.ablation`). ``--json``
also writes the numbers to a file. Errors a user can cause print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from apps.dialog_commands import add_source_arguments, source_from_args
from apps.weights import resolve_weights
from multimodal_rnn.datasets.visdial import shapes_source
from multimodal_rnn.tasks.dialog.predictor import DialogAgent
from multimodal_rnn.tasks.dialog.ablation import GROUPS, HISTORY_CONDITIONS, HistoryAblation, history_ablation
from multimodal_rnn.errors import InputError, MMRNNError
from multimodal_rnn.files import write_json
from multimodal_rnn.images import load_image

_GROUP_NAMES = {"refers_back": "refers back", "other": "other"}
_CONDITION_NAMES = {"full": "full history", "caption_only": "caption only", "none": "no history"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apps.dialog_ablation", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", metavar="FILE",
                        help="dialog checkpoint (.safetensors); default: weights/dialog_shapes.safetensors")
    parser.add_argument("--conditions", nargs="+", choices=HISTORY_CONDITIONS, default=list(HISTORY_CONDITIONS),
                        help="history conditions to rank (default: all)")
    parser.add_argument("--batch-size", type=int, default=32, help="dialogs per batch (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON")
    group = parser.add_argument_group("data (default: --split of the shapes world in --shapes-dir)")
    group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR")
    group.add_argument("--split", choices=["train", "val", "test"], default="test")
    add_source_arguments(group, "", "split")
    return parser


def format_table(result: HistoryAblation) -> str:
    """One row per question group, R@1 and MRR (in %) per history condition."""
    header = f"{'rounds':<12} {'n':>6}" + "".join(
        f"  {_CONDITION_NAMES[c] + ' R@1':>18} {'MRR':>6}" for c in result.conditions)
    lines = [header, "-" * len(header)]
    for group in GROUPS:
        cells = "".join(
            f"  {100 * result.metrics[group][c]['r@1']:>18.1f} {100 * result.metrics[group][c]['mrr']:>6.1f}"
            if result.metrics[group] else f"  {'-':>18} {'-':>6}"
            for c in result.conditions)
        lines.append(f"{_GROUP_NAMES[group]:<12} {result.rounds[group]:>6}" + cells)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    agent = DialogAgent.from_checkpoint(resolve_weights(args.weights, "dialog"))
    source = source_from_args(args, "") or shapes_source(args.shapes_dir, args.split)
    data = source.read()
    if not data.dialogs:
        raise InputError(f"{source.dialogs}: no dialogs")
    result = history_ablation(
        agent, data, load_image, conditions=args.conditions, batch_size=args.batch_size,
        progress=lambda it, total, desc: tqdm(it, total=total, desc=desc, unit="batch", disable=None))
    for reason in result.bad_images.values():
        print(f"skipped: {reason}", file=sys.stderr)
    print(f"history ablation on {source.dialogs} (R@1 and MRR in %):")
    print(format_table(result))
    if args.json is not None:
        write_json(args.json, {"dialogs": str(source.dialogs), "conditions": list(result.conditions),
                               "rounds": result.rounds, "metrics": result.metrics})
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a user error, printed on one line)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except MMRNNError as exc:
        print(f"dialog_ablation: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
