"""The caption task's commands: ``mmrnn caption IMG...``, ``mmrnn train|predict|eval caption``.

Each is a :class:`~multimodal_rnn.tasks.protocol.TaskCommand`: it declares its options and runs
on parsed arguments, returning a :class:`~multimodal_rnn.tasks.protocol.Report` (it never prints).
Declaring the options imports no torch: models, data and metrics are imported by ``run``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from multimodal_rnn.errors import InputError
from multimodal_rnn.files import read_json, write_json
from multimodal_rnn.images import DEFAULT_MAX_PIXELS, load_image, save_image
from multimodal_rnn.options import (
    IMAGE_OUTPUT_SUFFIXES,
    MAX_BEAM_SIZE,
    MAX_DECODE_LENGTH,
    add_beam_argument,
    add_output_argument,
    beam_size,
    decode_length,
    finite_float,
    non_negative_int,
    positive_int,
    probability,
)
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks.caption.data import (
    add_caption_data_arguments,
    caption_splits,
    check_caption_options,
    uses_shapes_world,
)
from multimodal_rnn.tasks.common import (
    TrainingLog,
    add_image_reading_arguments,
    add_trainer_arguments,
    ensure_shapes_world,
    model_overrides,
    train_report_line,
    trainer_config_from_args,
)
from multimodal_rnn.tasks.exporting import add_runtime_argument, exported_folder
from multimodal_rnn.tasks.protocol import Report, RunContext

if TYPE_CHECKING:
    import torch

    from multimodal_rnn.runtime.caption import CaptionResult as ExportedCaption
    from multimodal_rnn.runtime.caption import ExportedCaptioner
    from multimodal_rnn.tasks.caption.predictor import Captioner, CaptionResult

MODEL_NAMES = ("show_attend_tell", "show_tell", "updown")
"""The names of :data:`multimodal_rnn.tasks.caption.models.MODELS`, for ``--model`` without importing
torch (a test checks that they agree)."""


def load_captioner(weights: str | None, shipped: Mapping[str, str]) -> Captioner:
    """The captioner of ``--weights``, or of the default ``shipped`` checkpoint when none is given."""
    from multimodal_rnn.tasks.caption.predictor import Captioner

    return Captioner.from_checkpoint(resolve_weights(weights, shipped, task="caption"))


class CaptionCommand:
    """``mmrnn caption IMG [IMG ...]``: caption images with a trained (default: shipped) model."""

    help = "caption images (defaults to the shipped shapes-world weights)"

    def __init__(self, shipped: Mapping[str, str]) -> None:
        self.shipped = shipped

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("images", nargs="+", metavar="IMG", help="image files (JPEG, PNG, ...)")
        parser.add_argument("--weights", metavar="FILE",
                            help="caption checkpoint (.safetensors; default: weights/caption_shapes.safetensors), "
                                 "or an export folder with --runtime onnx")
        add_runtime_argument(parser, task="caption")
        add_beam_argument(parser)
        parser.add_argument("--max-length", type=decode_length, default=None, metavar="N",
                            help=f"most words per caption, 1-{MAX_DECODE_LENGTH} (default: the model's)")
        parser.add_argument("--length-penalty", type=finite_float, default=0.0, metavar="ALPHA",
                            help="GNMT length penalty alpha, a finite number (default: 0)")
        parser.add_argument("--json", action="store_true", help="print JSON lines {image, caption, score}")
        add_output_argument(parser, "--attention-map", suffixes=IMAGE_OUTPUT_SUFFIXES, metavar="OUT.png",
                            help="save the attention of each word as a picture "
                                 "(with several images: OUT-1.png, OUT-2.png, ...)")
        parser.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                            help="refuse images with more pixels than this (default: %(default)s)")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        captioner: Captioner | ExportedCaptioner
        if args.runtime == "onnx":
            from multimodal_rnn.runtime.caption import ExportedCaptioner

            captioner = ExportedCaptioner(exported_folder(args, task="caption"), threads=args.threads)
        else:
            captioner = load_captioner(args.weights, self.shipped)
            if args.attention_map is not None and not captioner.model.attends:
                raise InputError(f"--attention-map: model {type(captioner.model).__name__} has no attention")
        images = [load_image(path, max_pixels=args.max_pixels) for path in args.images]
        results: Sequence[CaptionResult | ExportedCaption] = captioner.caption(
            images, beam_size=args.beam, max_length=args.max_length, length_penalty=args.length_penalty,
            with_attention=args.attention_map is not None)
        lines = []
        for index, (path, image, result) in enumerate(zip(args.images, images, results)):
            if args.json:
                lines.append(json.dumps({"image": path, "caption": result.caption, "score": round(result.score, 4)}))
            elif len(args.images) > 1:
                lines.append(f"{path}\t{result.caption}")
            else:
                lines.append(result.caption)
            if args.attention_map is not None and result.attention is not None:
                out = args.attention_map
                if len(args.images) > 1:
                    out = out.with_name(f"{out.stem}-{index + 1}{out.suffix or '.png'}")
                from multimodal_rnn.attention_figure import attention_figure

                attention = cast("torch.Tensor", result.attention)  # --runtime onnx refuses --attention-map
                save_image(attention_figure(image, result.words, attention), out)
        return Report(lines=tuple(lines))


class TrainCommand:
    """``mmrnn train caption``: cross-entropy training or the SCST stage (shapes world by default)."""

    help = "train an image captioner"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = ("Train an image captioner. Checkpoints (last, best on validation CIDEr-D) and "
                              "metrics.jsonl go to --out. The validation split is optional: with --coco-train alone, "
                              "--val-fraction of the training images (default 0.1, chosen by --seed) are held out for "
                              "validation (logged, and recorded in the checkpoints' header). Every image is looked up "
                              "before training: a split whose images are all missing (or more than 100) is an error.")
        parser.add_argument("--model", default="show_attend_tell", choices=MODEL_NAMES,
                            help="caption model (default: %(default)s)")
        add_trainer_arguments(parser, metric="CIDEr-D", epochs=10, batch_size=64, lr=2e-3, warmup_steps=200)
        parser.add_argument("--label-smoothing", type=probability, default=None, metavar="EPSILON",
                            help="label smoothing of the cross-entropy, 0-1 (default: the model's)")
        parser.add_argument("--scheduled-sampling", type=probability, default=0.0, metavar="MAX_P",
                            help="rise the probability of feeding the model's own word by 0.05 per epoch up to "
                                 "MAX_P, 0-1 (default: 0)")
        parser.add_argument("--eval-images", type=non_negative_int, default=0, metavar="N",
                            help="validate on the first N images (0 = all)")
        parser.add_argument("--eval-beam", type=beam_size, default=1, metavar="N",
                            help=f"beam size for validation, 1-{MAX_BEAM_SIZE} (default: greedy)")
        parser.add_argument("--min-count", type=positive_int, default=1,
                            help="rarer words become <unk> (default: %(default)s)")
        parser.add_argument("--self-critical", action="store_true",
                            help="SCST stage with CIDEr-D reward; needs --init-from")
        parser.add_argument("--scst-baseline", choices=["greedy", "mean"], default="greedy")
        parser.add_argument("--scst-samples", type=positive_int, default=5, metavar="K",
                            help="captions sampled per image in the SCST stage (default: %(default)s)")
        parser.add_argument("--feature-cache", metavar="DIR",
                            help="precompute the frozen encoder's grid features here once and train on them "
                                 "(needs --set 'encoder={\"trainable\": false}')")
        add_caption_data_arguments(parser)

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.tasks.caption.models import MODELS
        from multimodal_rnn.tasks.caption.training import CaptionTrainingConfig, train_captioner

        check_caption_options(args)
        model = model_overrides(args.set, models=MODELS, model_name=args.model)
        if uses_shapes_world(args):
            ensure_shapes_world(args.shapes_dir, "captions_train.json", context)
        lines: list[str] = []
        train_records, val_records, validation = caption_splits(args, lines.append)
        if args.label_smoothing is not None:
            model["label_smoothing"] = args.label_smoothing
        task_config = CaptionTrainingConfig(
            model_name=args.model, model=model, min_count=args.min_count, eval_beam_size=args.eval_beam,
            eval_max_images=args.eval_images, scheduled_sampling_max=args.scheduled_sampling,
            self_critical=args.self_critical, scst_samples=args.scst_samples, scst_baseline=args.scst_baseline,
            init_from=args.init_from, feature_cache=args.feature_cache,
        )
        trainer_config = trainer_config_from_args(
            args, validation_metric="CIDEr", encoder_prefix="model.encoder." if args.self_critical else "encoder.")
        result = train_captioner(
            train_records, val_records, task_config, trainer_config, args.out, load_image=load_image,
            validation=validation.header() if validation.source == "holdout" else None, progress=context.progress,
            log=TrainingLog.of(context, lines), resume_from=args.out if args.resume else None,
        )
        return Report(lines=(train_report_line(result, "CIDEr-D"),))


class PredictCommand:
    """``mmrnn predict caption``: COCO results ``[{image_id, caption}]`` for a folder or a COCO file."""

    help = "caption a folder or the images of a COCO captions file"

    def __init__(self, shipped: Mapping[str, str]) -> None:
        self.shipped = shipped

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = "Caption every image and write COCO results [{image_id, caption}]."
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--images", type=Path, metavar="DIR",
                            help="a folder of images (ids from trailing digits of file names)")
        source.add_argument("--annotations", type=Path, metavar="FILE",
                            help="a COCO captions file; its images are read from --image-dir")
        parser.add_argument("--image-dir", type=Path, metavar="DIR",
                            help="image folder of --annotations (default: next to it)")
        add_output_argument(parser, "--out", required=True, metavar="results.json")
        parser.add_argument("--weights", metavar="FILE", help="caption checkpoint (default: the shipped shapes weights)")
        add_beam_argument(parser)
        parser.add_argument("--batch-size", type=positive_int, default=64, metavar="N",
                            help="images per batch (default: %(default)s)")
        add_image_reading_arguments(parser)

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.datasets.captions import (
            CaptionDataset,
            collate_captions,
            read_coco_captions,
            read_image_folder,
        )
        from multimodal_rnn.datasets.image_reader import read_batches

        captioner = load_captioner(args.weights, self.shipped)
        if args.images is not None:
            records = read_image_folder(args.images)
        else:
            records = read_coco_captions(args.annotations, args.image_dir or args.annotations.parent)
        dataset = CaptionDataset(records, captioner.transform, load_image, per_image=True,
                                 max_bad_images=args.max_bad_images)
        results = []
        batches = [range(start, min(start + args.batch_size, len(dataset)))
                   for start in range(0, len(dataset), args.batch_size)]
        read = read_batches(dataset, dataset.reader, batches, collate_captions, workers=args.workers,
                            pin_memory=captioner.device.type == "cuda")
        for batch in context.progress(read, len(batches), "captioning"):
            if "image" not in batch:
                continue
            for image_id, result in zip(batch["image_id"], captioner.caption_tensors(batch["image"], beam_size=args.beam)):
                results.append({"image_id": image_id, "caption": result.caption})
        if not results:
            raise InputError("no image could be read; nothing to write")
        write_json(args.out, results)
        notes = tuple(f"skipped: {reason}" for reason in dataset.bad_images.values())
        line = f"wrote {len(results)} captions to {args.out} ({len(dataset.bad_images)} unreadable images skipped)"
        return Report(lines=(line,), notes=notes, data={"captions": len(results), "skipped": len(dataset.bad_images)})


_EVAL_DESCRIPTION = """\
COCO caption evaluation, with the numbers of pycocoevalcap's COCOEvalCap: BLEU-1..4, METEOR 1.5
(needs Java and pycocoevalcap; about 5-20 s to start), ROUGE-L and CIDEr-D. Both sides are
tokenized the COCO way (PTB tokenizer, lowercased, punctuation dropped). The results must hold
exactly one caption for every annotated image, and nothing else. The Bleu_4 row also shows NLTK's
corpus BLEU-4 (nltk.translate.bleu_score.corpus_bleu on the same tokens), the number captioning
tutorials report: it equals COCO's Bleu_4 (to ~1e-9) when every caption has four words or more,
is lower when some are shorter (NLTK counts at least one n-gram of every order per caption), and
is (nearly) 0 when some n-gram order has no match at all."""

_EVAL_EPILOG = """\
examples:
  mmrnn eval caption --results val_results.json --annotations captions_val2014.json
  mmrnn eval caption --results r.json --annotations captions_val.json --out metrics.json --no-meteor

results format: [{"image_id": int, "caption": str}, ...]
--out writes {"metrics", "unavailable", "nltk_corpus_bleu_4", "num_images", "per_image"} as JSON."""


class EvalCommand:
    """``mmrnn eval caption``: the COCO caption metrics of a results file (and shapes-world faithfulness)."""

    help = "COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description, parser.epilog = _EVAL_DESCRIPTION, _EVAL_EPILOG
        parser.add_argument("--results", required=True, type=Path, metavar="JSON", help="COCO results file")
        parser.add_argument("--annotations", required=True, type=Path, metavar="JSON",
                            help="COCO captions annotation file")
        add_output_argument(parser, "--out", metavar="JSON", help="also write the metrics and per-image scores here")
        parser.add_argument("--no-meteor", action="store_true", help="skip METEOR (no Java start-up)")
        parser.add_argument("--scenes", type=Path, metavar="JSON",
                            help="shapes-world scene graphs (scenes_{split}.json): also report faithfulness, the "
                                 "share of captions whose every claim is true of the scene")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.datasets.shapes.truth import faithfulness, read_scene_graphs
        from multimodal_rnn.tasks.caption.evaluation import evaluate_captions, format_metrics_table

        report = evaluate_captions(args.results, args.annotations, meteor=not args.no_meteor)
        if args.scenes is not None:
            results = {entry["image_id"]: entry["caption"] for entry in read_json(args.results)}
            verdicts = faithfulness(results, read_scene_graphs(args.scenes))
            report["metrics"]["Faithfulness"] = verdicts.score
            report["faithfulness_failures"] = verdicts.failure_counts()
        if args.out is not None:
            try:
                write_json(args.out, report)
            except OSError as exc:
                raise InputError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
        return Report(lines=tuple(format_metrics_table(report).splitlines()), data=report)
