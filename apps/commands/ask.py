"""``mmrnn ask IMG "question"``: answer a question about an image with a trained (default: shipped) model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from multimodal_rnn.attention_figure import attention_figure
from apps.weights import resolve_weights
from multimodal_rnn.tasks.vqa.predictor import Answerer
from multimodal_rnn.errors import InputError
from multimodal_rnn.images import DEFAULT_MAX_PIXELS, load_image

NAME = "ask"
HELP = "answer a question about an image (defaults to the shipped shapes-world VQA weights)"

_EPILOG = """\
examples:
  mmrnn ask photo.png "what color is the circle?"
  mmrnn ask photo.png "how many shapes are there?" --top 3 --json
  echo "is there a red square?" | mmrnn ask photo.png - --attention-map where.png

Unknown words are read as <unk>; a question longer than the model's maximum length (30 words
for the shipped model) is cut to its first words. Probabilities of a model trained with the
default BCE loss are per-answer scores and need not sum to 1."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("image", metavar="IMG", help="image file (JPEG, PNG, ...)")
    parser.add_argument("question", help='the question, in quotes; "-" reads it from standard input (UTF-8)')
    parser.add_argument("--top", type=int, default=5, metavar="N", help="how many answers to list (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object {image, question, answers}")
    parser.add_argument("--weights", metavar="FILE", help="VQA checkpoint (.safetensors); default: weights/vqa_shapes.safetensors")
    parser.add_argument("--attention-map", metavar="OUT.png", type=Path,
                        help="save where each attention glimpse looked as a picture (attention models only)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="refuse images with more pixels than this (default: %(default)s)")


def read_question(text: str) -> str:
    """The question from the command line, or from standard input for ``-``; one-line errors."""
    if text == "-":
        data = sys.stdin.buffer.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"question on standard input: not UTF-8 text (byte {exc.start})") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # undecodable argv bytes arrive as lone surrogates
        raise InputError(f"question: not UTF-8 text (character {exc.start})") from None
    if not text.strip():
        raise InputError("the question is empty")
    return text


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise InputError(f"--top must be at least 1, got {args.top}")
    question = read_question(args.question)
    answerer = Answerer.from_checkpoint(resolve_weights(args.weights, "vqa"))
    if args.attention_map is not None and not answerer.model.attends:
        raise InputError(f"--attention-map: model {type(answerer.model).__name__} has no attention")
    image = load_image(args.image, max_pixels=args.max_pixels)
    result = answerer.answer([image], [question], top=args.top, with_attention=args.attention_map is not None)[0]
    if args.json:
        answers = [{"answer": answer, "probability": round(p, 4)} for answer, p in result.answers]
        print(json.dumps({"image": args.image, "question": question, "answers": answers}))
    else:
        width = max(len(answer) for answer, _ in result.answers)
        for answer, probability in result.answers:
            print(f"{answer:<{width}}  {probability:.4f}")
    if args.attention_map is not None and result.attention is not None:
        labels = [f"glimpse {g + 1}" for g in range(result.attention.shape[0])]
        try:
            attention_figure(image, labels, result.attention).save(args.attention_map)
        except (OSError, ValueError) as exc:
            raise InputError(f"{args.attention_map}: cannot write the attention map ({exc})") from None
    return 0
