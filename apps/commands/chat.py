"""``mmrnn chat IMG``: a visual dialog about an image, one question per line; the model keeps the history."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from apps.weights import resolve_weights
from multimodal_rnn.tasks.dialog.predictor import DialogAgent, DialogTurn
from multimodal_rnn.errors import InputError
from multimodal_rnn.images import DEFAULT_MAX_PIXELS, load_image

NAME = "chat"
HELP = "talk about an image: answer questions one after the other, remembering the dialog (visual dialog)"

_EPILOG = """\
examples:
  mmrnn chat photo.png                      (type questions; an empty line or Ctrl-D ends)
  printf 'is there a circle\\nwhat color is it\\n' | mmrnn chat photo.png --json
  mmrnn chat photo.png --caption "a red circle and a blue square" --weights dialog.safetensors

Every answer joins the history the next question is read with ("what color is it?" refers to the
object of the previous rounds). A discriminative model picks the best of the answers it saw in
training (--top lists the runners-up); a generative model writes its answer (beam search).
--json prints one object per question: {"round", "question", "answer", "alternatives"}."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("image", metavar="IMG", help="image file (JPEG, PNG, ...)")
    parser.add_argument("--weights", metavar="FILE",
                        help="dialog checkpoint (.safetensors); default: weights/dialog_shapes.safetensors")
    parser.add_argument("--caption", default="", help="a caption that starts the dialog history (default: none)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per question")
    parser.add_argument("--top", type=int, default=1, metavar="N",
                        help="also list the N best candidate answers with probabilities (default: %(default)s)")
    parser.add_argument("--beam-size", type=int, default=3, metavar="K", help="generative models (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="refuse images with more pixels than this (default: %(default)s)")


def _format(turn: DialogTurn, number: int, as_json: bool, top: int) -> str:
    alternatives = turn.alternatives[:top]
    if as_json:
        return json.dumps({"round": number, "question": turn.question, "answer": turn.answer,
                           "alternatives": [{"answer": a, "probability": round(p, 4)} for a, p in alternatives]})
    if top <= 1 or not alternatives:
        return turn.answer
    return turn.answer + "  (" + ", ".join(f"{a} {p:.2f}" for a, p in alternatives) + ")"


def chat(agent: DialogAgent, session_input: TextIO, output: TextIO, *, image_path: str, caption: str,
         as_json: bool, top: int, beam_size: int, max_pixels: int) -> int:
    """Answer every line of ``session_input`` in order; an empty line ends an interactive session."""
    session = agent.session(load_image(image_path, max_pixels=max_pixels), caption)
    interactive = session_input.isatty()
    number = 0
    while True:
        if interactive:
            output.write("you> ")
            output.flush()
        line = session_input.readline()
        if not line or (interactive and not line.strip()):
            return 0
        question = line.strip()
        if not question:
            continue  # blank lines in piped input are skipped
        number += 1
        turn = session.ask(question, top=max(top, 1), beam_size=beam_size)
        prefix = "bot> " if interactive and not as_json else ""
        output.write(prefix + _format(turn, number, as_json, top) + "\n")
        output.flush()


def run(args: argparse.Namespace) -> int:
    if args.top < 1 or args.beam_size < 1:
        raise InputError(f"--top and --beam-size must be at least 1, got {args.top} and {args.beam_size}")
    agent = DialogAgent.from_checkpoint(resolve_weights(args.weights, "dialog"))
    try:
        return chat(agent, sys.stdin, sys.stdout, image_path=args.image, caption=args.caption, as_json=args.json,
                    top=args.top, beam_size=args.beam_size, max_pixels=args.max_pixels)
    except UnicodeDecodeError as exc:
        raise InputError(f"standard input: not UTF-8 text (byte {exc.start})") from None
