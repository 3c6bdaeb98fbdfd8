"""The video caption task's commands: ``mmrnn caption-video CLIP...``, ``mmrnn predict|eval video_caption``
(``mmrnn train video_caption`` is in :mod:`.training_cli`).

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
from multimodal_rnn.files import atomic_write, write_json
from multimodal_rnn.options import (
    MAX_DECODE_LENGTH,
    add_beam_argument,
    add_output_argument,
    decode_length,
    finite_float,
    int_range,
    positive_int,
)
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks.protocol import Report, RunContext
from multimodal_rnn.tasks.video_caption.data import add_data_arguments, evaluation_records, world_truth
from multimodal_rnn.tasks.video_data import add_max_bad_clips_argument

if TYPE_CHECKING:
    from multimodal_rnn.datasets.video_records import VideoRecord
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
model's number of frames (8 for the shipped weights) is sampled uniformly over the whole clip."""


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
        add_beam_argument(parser)
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


class PredictCommand:
    """``mmrnn predict video_caption``: results ``[{video_id, caption}]`` for a split or a folder of clips."""

    help = "caption the clips of a split (or a folder) into a results file"

    def __init__(self, shipped: Mapping[str, str]) -> None:
        self.shipped = shipped

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = (
            "Caption every clip of a split (default: the moving-shapes test split) or of a folder "
            "(--clips DIR: every video file or frame folder in it, ids from the names) and write "
            "results [{video_id, caption}] for mmrnn eval video_caption."
        )
        parser.add_argument("--clips", type=Path, metavar="DIR", help="a folder of clips instead of a dataset split")
        add_output_argument(parser, "--out", required=True, metavar="results.json")
        parser.add_argument("--weights", metavar="FILE", help="video caption checkpoint (default: the shipped weights)")
        add_beam_argument(parser)
        parser.add_argument(
            "--batch-size", type=positive_int, default=32, metavar="N", help="clips per batch (default: %(default)s)"
        )
        add_max_bad_clips_argument(parser)
        add_data_arguments(parser, training=False)

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.datasets.video_clips import ClipDataset
        from multimodal_rnn.tasks.video_caption.training import caption_records

        captioner = load_video_captioner(args.weights, self.shipped)
        records = folder_records(args.clips) if args.clips is not None else evaluation_records(args)
        clips = ClipDataset(
            records,
            num_frames=captioner.num_frames,
            transform=captioner.clip_transform,
            max_bad_clips=args.max_bad_clips,
        )
        captions = caption_records(
            captioner, clips, beam_size=args.beam, batch_size=args.batch_size, progress=context.progress
        )
        if not captions:
            raise InputError("no clip could be read; nothing to write")
        write_json(args.out, [{"video_id": video_id, "caption": caption} for video_id, caption in captions.items()])
        notes = tuple(f"skipped: {reason}" for reason in clips.bad_clips.values())
        line = f"wrote {len(captions)} captions to {args.out} ({len(clips.bad_clips)} unreadable clips skipped)"
        return Report(lines=(line,), notes=notes, data={"captions": len(captions), "skipped": len(clips.bad_clips)})


def folder_records(folder: Path) -> list[VideoRecord]:
    """A record per video file or frame folder of ``folder`` (sorted by name), its id the name without extension."""
    from multimodal_rnn.datasets.video_records import VideoRecord
    from multimodal_rnn.video import VIDEO_EXTENSIONS

    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of clips")
    paths = sorted(p for p in folder.iterdir() if p.is_dir() or p.suffix.lower() in VIDEO_EXTENSIONS)
    if not paths:
        raise InputError(f"{folder}: no video files ({', '.join(VIDEO_EXTENSIONS)}) or frame folders in it")
    return [VideoRecord(path.stem if path.is_file() else path.name, path) for path in paths]


_EVAL_DESCRIPTION = """\
Video caption evaluation: the COCO caption metrics (BLEU-1..4, METEOR 1.5 with --meteor (needs Java),
ROUGE-L, CIDEr-D; both sides tokenized the COCO way, the exact implementations of mmrnn eval caption)
of a results file against the reference captions of a split, plus, on the moving-shapes world (or
with --truth), faithfulness: the share of captions whose every claim is true of the clip. The
results must hold exactly one caption for every clip of the split, and nothing else."""

_EVAL_EPILOG = """\
examples:
  mmrnn predict video_caption --out results.json && mmrnn eval video_caption --results results.json
  mmrnn eval video_caption --results r.json --msrvtt MSRVTT/videodatainfo.json --split test --out metrics.json

results format: [{"video_id": str, "caption": str}, ...]"""


class EvalCommand:
    """``mmrnn eval video_caption``: the COCO caption metrics of a results file (and faithfulness)."""

    help = "COCO caption metrics of video captions (and moving-shapes faithfulness)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description, parser.epilog = _EVAL_DESCRIPTION, _EVAL_EPILOG
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.add_argument("--results", required=True, type=Path, metavar="JSON", help="results file")
        add_output_argument(parser, "--out", metavar="JSON", help="also write the metrics and per-clip scores here")
        parser.add_argument("--meteor", action="store_true", help="also METEOR (starts Java; 5-20 s)")
        parser.add_argument(
            "--truth",
            type=Path,
            metavar="JSON",
            help="moving-shapes clip truths (truth.json) for faithfulness (default: the world's, "
            "when the data is the world)",
        )
        add_data_arguments(parser, training=False)

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.datasets.video_captions import video_references
        from multimodal_rnn.tasks.video_caption.evaluation import (
            check_same_clips,
            evaluate_video_captions,
            format_metrics_table,
            read_video_results,
        )

        candidates = read_video_results(args.results)
        references = video_references(evaluation_records(args))
        annotations = args.msvd or args.msrvtt or args.data_dir / "msrvtt/videodatainfo.json"
        check_same_clips(candidates, references, where=str(args.results), annotations=str(annotations))
        report = evaluate_video_captions(candidates, references, meteor=args.meteor)
        truth = args.truth or world_truth(args)
        if truth is not None:
            from multimodal_rnn.datasets.moving_shapes.truth import read_clip_truths, video_faithfulness

            verdicts = video_faithfulness(candidates, read_clip_truths(truth))
            report["metrics"]["Faithfulness"] = verdicts.score
            report["faithfulness_failures"] = verdicts.failure_counts()
        if args.out is not None:
            write_json(args.out, report)
        return Report(lines=tuple(format_metrics_table(report).splitlines()), data=report)
