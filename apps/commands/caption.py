"""``mmrnn caption IMG [IMG ...]``: caption images with a trained (default: shipped) model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from multimodal_rnn.attention_figure import attention_figure
from apps.weights import resolve_weights
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.errors import InputError
from multimodal_rnn.images import DEFAULT_MAX_PIXELS, load_image

NAME = "caption"
HELP = "caption images (defaults to the shipped shapes-world weights)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMG", help="image files (JPEG, PNG, ...)")
    parser.add_argument("--weights", metavar="FILE", help="caption checkpoint (.safetensors); default: weights/caption_shapes.safetensors")
    parser.add_argument("--beam", type=int, default=3, metavar="N", help="beam size; 1 = greedy (default: %(default)s)")
    parser.add_argument("--max-length", type=int, default=None, metavar="N", help="most words per caption (default: the model's)")
    parser.add_argument("--length-penalty", type=float, default=0.0, metavar="ALPHA", help="GNMT length penalty alpha (default: 0)")
    parser.add_argument("--json", action="store_true", help="print JSON lines {image, caption, score}")
    parser.add_argument("--attention-map", metavar="OUT.png", type=Path,
                        help="save the attention of each word as a picture (with several images: OUT-1.png, OUT-2.png, ...)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="refuse images with more pixels than this (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    captioner = Captioner.from_checkpoint(resolve_weights(args.weights, "caption"))
    if args.attention_map is not None and not captioner.model.attends:
        raise InputError(f"--attention-map: model {type(captioner.model).__name__} has no attention")
    images = [load_image(path, max_pixels=args.max_pixels) for path in args.images]
    results = captioner.caption(images, beam_size=args.beam, max_length=args.max_length,
                                length_penalty=args.length_penalty, with_attention=args.attention_map is not None)
    for index, (path, image, result) in enumerate(zip(args.images, images, results)):
        if args.json:
            print(json.dumps({"image": path, "caption": result.caption, "score": round(result.score, 4)}))
        elif len(args.images) > 1:
            print(f"{path}\t{result.caption}")
        else:
            print(result.caption)
        if args.attention_map is not None and result.attention is not None:
            out = args.attention_map
            if len(args.images) > 1:
                out = out.with_name(f"{out.stem}-{index + 1}{out.suffix or '.png'}")
            attention_figure(image, result.words, result.attention).save(out)
    return 0
