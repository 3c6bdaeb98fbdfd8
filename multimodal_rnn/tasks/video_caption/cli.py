"""The video caption task's commands: ``mmrnn caption-video CLIP...``, ``mmrnn train|predict|eval video_caption``.

Each is a :class:`~multimodal_rnn.tasks.protocol.TaskCommand`: it declares its options and runs on
parsed arguments, returning a :class:`~multimodal_rnn.tasks.protocol.Report` (it never prints).
Declaring the options imports no torch: models, data and metrics are imported by ``run``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from multimodal_rnn.errors import InputError
from multimodal_rnn.files import atomic_write
from multimodal_rnn.options import (
    MAX_BEAM_SIZE,
    MAX_DECODE_LENGTH,
    add_output_argument,
    beam_size,
    decode_length,
    finite_float,
    int_range,
)
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks.protocol import Report, RunContext

if TYPE_CHECKING:
    from multimodal_rnn.tasks.video_caption.predictor import VideoCaptioner

MODEL_NAMES = ("s2vt", "temporal_attention")
"""The names of :data:`multimodal_rnn.tasks.video_caption.models.MODELS`, for ``--model`` without
importing torch (a test checks that they agree)."""

MAX_FRAMES = 256
"""Most frames ``--frames`` may sample from one clip."""

_CAPTION_EPILOG = """\
examples:
  mmrnn caption-video clip.mp4
  mmrnn caption-video a.avi b.gif frames_dir/ --beam 5 --json
  mmrnn caption-video clip.mp4 --gif captioned.gif

A clip is a video file (.mp4, .webm, .avi, .mkv, .mov, .gif) or a folder of frame images; the
model's number of frames (16 for the shipped weights) is sampled uniformly over the whole clip."""


def load_video_captioner(weights: str | None, shipped: Mapping[str, str]) -> VideoCaptioner:
    """The video captioner of ``--weights``, or of the default ``shipped`` checkpoint when none is given."""
    from multimodal_rnn.tasks.video_caption.predictor import VideoCaptioner

    return VideoCaptioner.from_checkpoint(resolve_weights(weights, shipped, task="video_caption"))


class CaptionVideoCommand:
    """``mmrnn caption-video CLIP [CLIP ...]``: caption clips with a trained (default: shipped) model."""

    help = "caption video clips (defaults to the shipped moving-shapes weights)"

    def __init__(self, shipped: Mapping[str, str]) -> None:
        self.shipped = shipped

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.epilog = _CAPTION_EPILOG
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.add_argument("clips", nargs="+", metavar="CLIP", help="video files or folders of frame images")
        parser.add_argument(
            "--weights",
            metavar="FILE",
            help="video caption checkpoint (.safetensors); default: weights/video_caption_moving_shapes.safetensors",
        )
        parser.add_argument(
            "--beam",
            type=beam_size,
            default=3,
            metavar="N",
            help=f"beam size, 1-{MAX_BEAM_SIZE}; 1 = greedy (default: %(default)s)",
        )
        parser.add_argument(
            "--max-length",
            type=decode_length,
            default=None,
            metavar="N",
            help=f"most words per caption, 1-{MAX_DECODE_LENGTH} (default: the model's)",
        )
        parser.add_argument(
            "--length-penalty",
            type=finite_float,
            default=0.0,
            metavar="ALPHA",
            help="GNMT length penalty alpha, a finite number (default: 0)",
        )
        parser.add_argument(
            "--frames",
            type=int_range(1, MAX_FRAMES),
            default=None,
            metavar="N",
            help=f"frames sampled per clip, 1-{MAX_FRAMES} (default: the model's)",
        )
        parser.add_argument("--json", action="store_true", help="print JSON lines {clip, caption, score, words}")
        add_output_argument(
            parser,
            "--gif",
            suffixes=(".gif",),
            metavar="OUT.gif",
            help="save the sampled frames with the caption under them as an animated GIF "
            "(with several clips: OUT-1.gif, OUT-2.gif, ...)",
        )

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.video import read_clip
        from multimodal_rnn.video_figure import annotated_gif

        captioner = load_video_captioner(args.weights, self.shipped)
        frames = args.frames or captioner.num_frames
        clips = [read_clip(path, num_frames=frames) for path in args.clips]
        results = captioner.caption(
            clips, beam_size=args.beam, max_length=args.max_length, length_penalty=args.length_penalty
        )
        lines = []
        for index, (path, clip, result) in enumerate(zip(args.clips, clips, results)):
            if args.json:
                lines.append(
                    json.dumps(
                        {
                            "clip": path,
                            "caption": result.caption,
                            "score": round(result.score, 4),
                            "words": list(result.words),
                        }
                    )
                )
            elif len(args.clips) > 1:
                lines.append(f"{path}\t{result.caption}")
            else:
                lines.append(result.caption)
            if args.gif is not None:
                out = args.gif if len(args.clips) == 1 else args.gif.with_name(f"{args.gif.stem}-{index + 1}.gif")
                write_bytes(out, annotated_gif(clip.frames, caption=result.caption))
        return Report(lines=tuple(lines))


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; a failure is one line naming the file."""

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(data)

    try:
        atomic_write(path, write)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
