"""The dialog task's own top-level commands: ``mmrnn chat IMG`` (a dialog about an image, one
question a line) and ``mmrnn dialog-ablation`` (R@1 and MRR with and without the dialog history).

Commands declare their options on the parser the app gives them; ``chat`` writes each answer
through the context's ``emit`` as it comes, ``dialog-ablation`` returns its table as a
:class:`~multimodal_rnn.tasks.protocol.Report`. Neither prints. Declaring the options imports no
torch: the agent and the data are imported by ``run``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from multimodal_rnn import options
from multimodal_rnn.errors import InputError
from multimodal_rnn.files import write_json
from multimodal_rnn.images import DEFAULT_MAX_PIXELS, load_image
from multimodal_rnn.options import add_output_argument
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks.dialog.cli import WEIGHTS_HELP, add_split_arguments, agent_and_split
from multimodal_rnn.tasks.protocol import Report, RunContext, ServingLimits
from multimodal_rnn.tasks.text_input import check_question, stdin_lines

if TYPE_CHECKING:
    from multimodal_rnn.tasks.dialog.ablation import HistoryAblation
    from multimodal_rnn.tasks.dialog.predictor import DialogAgent, DialogTurn

HISTORY_CONDITIONS = ("full", "caption_only", "none")
""":data:`multimodal_rnn.tasks.dialog.ablation.HISTORY_CONDITIONS`, for ``--conditions`` without importing
torch (a test checks that they agree)."""

_CHAT_EPILOG = f"""\
examples:
  mmrnn chat photo.png                      (type questions; an empty line or Ctrl-D ends)
  printf 'is there a circle\\nwhat color is it\\n' | mmrnn chat photo.png --json
  mmrnn chat photo.png --caption "a red circle and a blue square" --weights dialog.safetensors

Every answer joins the history the next question is read with ("what color is it?" refers to the
object of the previous rounds). The history holds the caption and the last
{ServingLimits.max_history_rounds} rounds (the server's limit), so every question costs the same. Questions are
read as UTF-8, as by `mmrnn ask -`; blank lines of piped input are skipped, and a question
without a word (only punctuation, such as "?!?") ends the session with a one-line error and
exit status 2, after the answers so far.
A discriminative model picks the best of the answers it saw in training (--top lists the
runners-up); a generative model writes its answer (beam search).
--json prints one object per question: {{"round", "question", "answer", "alternatives"}}."""


def format_turn(turn: DialogTurn, number: int, as_json: bool, top: int) -> str:
    """One answered round as ``chat`` shows it: the answer (with ``top`` > 1 the runners-up), or a JSON object."""
    alternatives = turn.alternatives[:top]
    if as_json:
        return json.dumps({"round": number, "question": turn.question, "answer": turn.answer,
                           "alternatives": [{"answer": a, "probability": round(p, 4)} for a, p in alternatives]})
    if top <= 1 or not alternatives:
        return turn.answer
    return turn.answer + "  (" + ", ".join(f"{a} {p:.2f}" for a, p in alternatives) + ")"


def chat(agent: DialogAgent, session_input: TextIO, emit: Callable[[str], None], *, image_path: str, caption: str,
         as_json: bool, top: int, beam_size: int, max_pixels: int) -> int:
    """Answer every line of ``session_input`` in order, each answer emitted as it comes.

    Lines are decoded as strict UTF-8 and checked as ``mmrnn ask`` checks its question
    (:mod:`multimodal_rnn.tasks.text_input`); the history keeps the caption and the latest
    :attr:`~multimodal_rnn.tasks.protocol.ServingLimits.max_history_rounds` rounds. Blank lines
    of piped input are skipped; on a terminal an empty line ends the session (and answers are
    prefixed ``bot> ``). Returns the exit status (0).

    Raises:
        InputError: a line that is not UTF-8 or holds no word (``line N: the question is empty
            (no words)``); the answers before it were emitted.
    """
    session = agent.session(load_image(image_path, max_pixels=max_pixels), caption,
                            max_history_rounds=ServingLimits.max_history_rounds)
    interactive = session_input.isatty()
    number = 0
    for line_number, line in enumerate(stdin_lines(session_input), start=1):
        if not line.strip():
            if interactive:
                return 0
            continue
        question = check_question(line, where=f"line {line_number}")
        number += 1
        turn = session.ask(question, top=top, beam_size=beam_size)
        prefix = "bot> " if interactive and not as_json else ""
        emit(prefix + format_turn(turn, number, as_json, top))
    return 0


@dataclass
class ChatCommand:
    """``mmrnn chat IMG``: questions from the context's stdin, answers through its ``emit``."""

    shipped: Mapping[str, str]
    help: str = "talk about an image: answer questions one after the other, remembering the dialog (visual dialog)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.epilog = _CHAT_EPILOG
        parser.add_argument("image", metavar="IMG", help="image file (JPEG, PNG, ...)")
        parser.add_argument("--weights", metavar="FILE", help=WEIGHTS_HELP)
        parser.add_argument("--caption", default="", help="a caption that starts the dialog history (default: none)")
        parser.add_argument("--json", action="store_true", help="print one JSON object per question")
        parser.add_argument("--top", type=options.positive_int, default=1, metavar="N",
                            help="also list the N best candidate answers with probabilities (default: %(default)s)")
        parser.add_argument("--beam-size", type=options.beam_size, default=3, metavar="K",
                            help=f"beam size of generative models, 1-{options.MAX_BEAM_SIZE} (default: %(default)s)")
        parser.add_argument("--max-pixels", type=options.positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                            help="refuse images with more pixels than this (default: %(default)s)")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.dialog.predictor import DialogAgent

        if context.stdin is None:
            raise InputError("chat reads its questions from standard input; none is open")
        agent = DialogAgent.from_checkpoint(resolve_weights(args.weights, self.shipped, task="dialog"))
        if context.stdin.isatty():
            context.log(f"ask about {args.image}, one question a line; an empty line or Ctrl-D ends")
        chat(agent, context.stdin, context.emit, image_path=args.image, caption=args.caption, as_json=args.json,
             top=args.top, beam_size=args.beam_size, max_pixels=args.max_pixels)
        return Report()


_ABLATION_DESCRIPTION = """\
Print the history ablation of a dialog model: R@1 and MRR with and without the dialog history.

Rounds are split into those whose question refers back to the history ("what color is it",
"what about the square") and the others; each is ranked with the full history, with the
caption only, and with no history at all. --json also writes the numbers to a file."""

_ABLATION_EPILOG = """\
examples:
  mmrnn dialog-ablation --weights W --shapes-dir DIR --split test
  mmrnn dialog-ablation --weights W --dialogs visdial_1.0_val.json --images VisualDialog_val2018"""

_GROUP_NAMES = {"refers_back": "refers back", "other": "other"}
_CONDITION_NAMES = {"full": "full history", "caption_only": "caption only", "none": "no history"}


def format_ablation_table(result: HistoryAblation) -> list[str]:
    """One row per question group, R@1 and MRR (in %) per history condition."""
    from multimodal_rnn.tasks.dialog.ablation import GROUPS

    header = f"{'rounds':<12} {'n':>6}" + "".join(
        f"  {_CONDITION_NAMES[c] + ' R@1':>18} {'MRR':>6}" for c in result.conditions)
    lines = [header, "-" * len(header)]
    for group in GROUPS:
        cells = "".join(
            f"  {100 * result.metrics[group][c]['r@1']:>18.1f} {100 * result.metrics[group][c]['mrr']:>6.1f}"
            if result.metrics[group] else f"  {'-':>18} {'-':>6}"
            for c in result.conditions)
        lines.append(f"{_GROUP_NAMES[group]:<12} {result.rounds[group]:>6}" + cells)
    return lines


@dataclass
class AblationCommand:
    """``mmrnn dialog-ablation``: :func:`~multimodal_rnn.tasks.dialog.ablation.history_ablation` as a table."""

    shipped: Mapping[str, str]
    help: str = "R@1 and MRR of a dialog model with and without the dialog history (history ablation)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description, parser.epilog = _ABLATION_DESCRIPTION, _ABLATION_EPILOG
        parser.add_argument("--weights", metavar="FILE", help=WEIGHTS_HELP)
        parser.add_argument("--conditions", nargs="+", choices=HISTORY_CONDITIONS, default=list(HISTORY_CONDITIONS),
                            help="history conditions to rank (default: all)")
        parser.add_argument("--batch-size", type=options.positive_int, default=32, metavar="N",
                            help="dialogs per batch (default: %(default)s)")
        add_output_argument(parser, "--json", metavar="FILE", help="also write the numbers as JSON")
        add_split_arguments(parser)

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.dialog.ablation import history_ablation

        agent, source, data = agent_and_split(args, self.shipped)
        result = history_ablation(agent, data, load_image, conditions=args.conditions, batch_size=args.batch_size,
                                  progress=context.progress)
        numbers = {"dialogs": str(source.dialogs), "conditions": list(result.conditions),
                   "rounds": result.rounds, "metrics": result.metrics}
        if args.json is not None:
            write_json(args.json, numbers)
        title = f"history ablation on {source.dialogs} (R@1 and MRR in %):"
        return Report(lines=(title, *format_ablation_table(result)),
                      notes=tuple(f"skipped: {reason}" for reason in result.bad_images.values()), data=numbers)
