"""The vqa task's commands: ``mmrnn ask``, ``mmrnn train vqa``, ``mmrnn predict vqa``, ``mmrnn eval vqa``.

Each is a :class:`~multimodal_rnn.tasks.protocol.TaskCommand`: it declares its options on the
parser the app gives it and runs with the parsed namespace, returning a
:class:`~multimodal_rnn.tasks.protocol.Report` (it never prints). Commands that fall back on the
shipped weights are given the task's ``shipped`` files when the task is assembled. Declaring the
options imports no torch: models, data and figures are imported by ``run``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from multimodal_rnn.errors import InputError
from multimodal_rnn.files import write_json
from multimodal_rnn.images import DEFAULT_MAX_PIXELS, load_image, save_image
from multimodal_rnn.metrics.vqa import VQAEvaluation, evaluate_vqa
from multimodal_rnn.options import IMAGE_OUTPUT_SUFFIXES, add_output_argument, non_negative_int, positive_int
from multimodal_rnn.shipped import resolve_weights
from multimodal_rnn.tasks.common import (
    TrainingLog,
    add_image_location_arguments,
    add_image_reading_arguments,
    add_trainer_arguments,
    ensure_shapes_world,
    image_location_from_args,
    model_overrides,
    train_report_line,
    trainer_config_from_args,
)
from multimodal_rnn.tasks.exporting import add_runtime_argument, exported_folder
from multimodal_rnn.tasks.protocol import Report, RunContext
from multimodal_rnn.tasks.text_input import check_question, read_stdin
from multimodal_rnn.tasks.training_data import add_validation_arguments, check_options, needs

if TYPE_CHECKING:
    import torch

    from multimodal_rnn.datasets.vqa import VQASource
    from multimodal_rnn.runtime.vqa import ExportedAnswerer
    from multimodal_rnn.tasks.vqa.predictor import Answerer

MODEL_NAMES = ("film", "lstm_q_norm_i", "saaa", "saaa_rel")
"""The names of :data:`multimodal_rnn.tasks.vqa.models.MODELS`, for ``--model`` without importing torch
(a test checks that they agree)."""

DEFAULT_IMAGE_PATTERN = "COCO_val2014_{image_id:012d}.jpg"
""":data:`multimodal_rnn.datasets.vqa.DEFAULT_IMAGE_PATTERN`, for ``--image-pattern`` without importing
torch (a test checks that they agree)."""

ASK_EPILOG = """\
examples:
  mmrnn ask photo.png "what color is the circle?"
  mmrnn ask photo.png "how many shapes are there?" --top 3 --json
  echo "is there a red square?" | mmrnn ask photo.png - --attention-map where.png

Unknown words are read as <unk>; a question longer than the model's maximum length (30 words
for the shipped model) is cut to its first words. A question without a word (empty, or only
punctuation such as "?!?") or that is not UTF-8 is an error, as at the server (HTTP 422).
Probabilities of a model trained with the default BCE loss are per-answer scores and need not
sum to 1."""

TRAIN_NEEDS = {
    "--questions": ("--annotations", "--images"), "--annotations": ("--questions",), "--images": ("--questions",),
    "--images-list": ("--questions",), "--val-questions": ("--questions", "--val-annotations", "--val-images"),
    "--val-annotations": ("--val-questions",), "--val-images": ("--val-questions",),
    "--val-images-list": ("--val-questions",),
}
"""What each ``mmrnn train vqa`` data option needs (all problems are reported at once)."""

TRAIN_DESCRIPTION = """\
Train a VQA model on any dataset in VQA v1/v2 format (default: the shapes world). The answer
vocabulary is the K most frequent normalized training answers; targets are soft scores
min(1, 0.3 * count). Training skips questions with no answer in the vocabulary; validation
keeps them and reports the official-style accuracy (overall and per answer type). Checkpoints
(last, best on validation accuracy) and metrics.jsonl go to --out. Image features are
L2-normalized (normalize_image) only for an encoder with pretrained weights (docs/foreign_data.md).

The validation split is optional: without --val-questions, --val-fraction of the training images
(default 0.1, chosen by --seed) are held out for validation, with all their questions; the counts
are logged and recorded in the checkpoints' header. Every image is looked up before training: a
split whose images are all missing (or more than 100 of them) is an error naming the pattern."""

TRAIN_EPILOG = """\
examples:
  mmrnn train vqa --model saaa_rel --out runs/vqa_shapes --epochs 24 --set embed_size=64 --set hidden_size=128 \\
      --set attention_size=128 --set classifier_size=256 --set normalize_image=false \\
      --set 'encoder={"channels": [32, 64, 64]}'    # the shipped shapes model (weights/README.md)
  mmrnn train vqa --out runs/vqa_coco --set 'encoder={"backbone": "resnet18", "weights": "IMAGENET1K_V1"}' \\
      --questions v2_OpenEnded_mscoco_train2014_questions.json --annotations v2_mscoco_train2014_annotations.json \\
      --images train2014 --image-pattern 'COCO_train2014_{image_id:012d}.jpg' \\
      --val-questions v2_OpenEnded_mscoco_val2014_questions.json --val-annotations v2_mscoco_val2014_annotations.json \\
      --val-images val2014

--set takes the options of the chosen model only: an option it does not have is an error."""

EVAL_DESCRIPTION = """\
VQA accuracy with the numbers of the official evaluation (GT-Vision-Lab/VQA vqaEval.py): per
question, the mean over the 10 leave-one-out subsets of the human answers of min(1, matches / 3),
after the official answer normalization (applied only when the human answers differ). Prints the
overall accuracy and the accuracy per answer type and per question type, in percent. The results
must hold exactly one answer for every annotated question, and nothing else."""

EVAL_EPILOG = """\
examples:
  mmrnn eval vqa --questions v2_OpenEnded_mscoco_val2014_questions.json \\
      --annotations v2_mscoco_val2014_annotations.json --results val_results.json
  mmrnn eval vqa --questions q.json --annotations a.json --results r.json --out accuracy.json

results format: [{"question_id": int, "answer": str}, ...]
--out writes {"overall", "per_answer_type", "per_question_type", "answer_type_counts",
"question_type_counts", "num_questions", "per_question"} as JSON; per_question accuracies are 0..1."""


@dataclass
class AskCommand:
    """``mmrnn ask IMG "question"``: answer a question about an image with a trained (default: shipped) model."""

    shipped: Mapping[str, str]
    help: str = "answer a question about an image (defaults to the shipped shapes-world VQA weights)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.epilog = ASK_EPILOG
        parser.add_argument("image", metavar="IMG", help="image file (JPEG, PNG, ...)")
        parser.add_argument("question", help='the question, in quotes; "-" reads it from standard input (UTF-8)')
        parser.add_argument("--top", type=positive_int, default=5, metavar="N",
                            help="how many answers to list (default: %(default)s)")
        parser.add_argument("--json", action="store_true", help="print one JSON object {image, question, answers}")
        parser.add_argument("--weights", metavar="FILE",
                            help="VQA checkpoint (.safetensors; default: weights/vqa_shapes.safetensors), "
                                 "or an export folder with --runtime onnx")
        add_runtime_argument(parser, task="vqa")
        add_output_argument(parser, "--attention-map", suffixes=IMAGE_OUTPUT_SUFFIXES, metavar="OUT.png",
                            help="save where each attention glimpse looked as a picture (attention models only)")
        parser.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                            help="refuse images with more pixels than this (default: %(default)s)")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        question = read_question(args.question, context.stdin)
        answerer: Answerer | ExportedAnswerer
        if args.runtime == "onnx":
            from multimodal_rnn.runtime.vqa import ExportedAnswerer

            answerer = ExportedAnswerer(exported_folder(args, task="vqa"), threads=args.threads)
        else:
            from multimodal_rnn.tasks.vqa.predictor import Answerer

            answerer = Answerer.from_checkpoint(resolve_weights(args.weights, self.shipped, task="vqa"))
            if args.attention_map is not None and not answerer.model.attends:
                raise InputError(f"--attention-map: model {type(answerer.model).__name__} has no attention")
        image = load_image(args.image, max_pixels=args.max_pixels)
        result = answerer.answer([image], [question], top=args.top, with_attention=args.attention_map is not None)[0]
        answers = [{"answer": answer, "probability": round(p, 4)} for answer, p in result.answers]
        data = {"image": args.image, "question": question, "answers": answers}
        if args.json:
            lines = [json.dumps(data)]
        else:
            width = max(len(answer) for answer, _ in result.answers)
            lines = [f"{answer:<{width}}  {probability:.4f}" for answer, probability in result.answers]
        if args.attention_map is not None and result.attention is not None:
            from multimodal_rnn.attention_figure import attention_figure

            labels = [f"glimpse {g + 1}" for g in range(result.attention.shape[0])]
            attention = cast("torch.Tensor", result.attention)  # --runtime onnx refuses --attention-map
            save_image(attention_figure(image, labels, attention), args.attention_map)
        return Report(lines=tuple(lines), data=data)


def read_question(text: str, stdin: TextIO | None) -> str:
    """The question from the command line, or from ``stdin`` for ``-`` (strict UTF-8), stripped;
    one-line errors for text that is not UTF-8 or holds no word
    (:func:`~multimodal_rnn.tasks.text_input.check_question`, the server's rule)."""
    if text == "-":
        if stdin is None:
            raise InputError("question '-': no standard input to read it from")
        text = read_stdin(stdin)
    return check_question(text)


def add_vqa_source_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, prefix: str, split: str) -> None:
    """``--{prefix}questions/annotations/images/image-pattern/images-list`` naming one VQA split."""
    parser.add_argument(f"--{prefix}questions", type=Path, metavar="JSON", help=f"VQA questions file of the {split}")
    parser.add_argument(f"--{prefix}annotations", type=Path, metavar="JSON", help=f"VQA annotations file of the {split}")
    add_image_location_arguments(parser, prefix, split, default_pattern=DEFAULT_IMAGE_PATTERN)


def vqa_source_from_args(args: argparse.Namespace, prefix: str, *, need_annotations: bool) -> VQASource | None:
    """The split named by :func:`add_vqa_source_arguments`' options, or None when ``--{prefix}questions`` is absent."""
    from multimodal_rnn.datasets.vqa import VQASource

    attribute = prefix.replace("-", "_")
    questions = getattr(args, f"{attribute}questions")
    if questions is None:
        return None
    location = image_location_from_args(args, prefix, needed_by="questions")
    annotations = getattr(args, f"{attribute}annotations")
    if need_annotations and annotations is None:
        raise InputError(f"--{prefix}questions needs --{prefix}annotations for training and validation")
    return VQASource(questions=questions, annotations=annotations, **location)


@dataclass
class TrainCommand:
    """``mmrnn train vqa``: train a VQA model (shapes world by default)."""

    help: str = "train a visual question answering model"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description, parser.epilog = TRAIN_DESCRIPTION, TRAIN_EPILOG
        parser.add_argument("--model", default="saaa", choices=MODEL_NAMES,
                            help="VQA model (default: %(default)s)")
        add_trainer_arguments(parser, metric="accuracy", epochs=40, batch_size=32, lr=2e-3, warmup_steps=100)
        parser.add_argument("--answers", type=positive_int, default=3000, metavar="K",
                            help="answer vocabulary: the K most frequent training answers (default: %(default)s)")
        parser.add_argument("--loss", choices=["bce", "softmax"], default=None,
                            help="bce on soft scores (default) or softmax cross-entropy on a sampled answer")
        parser.add_argument("--min-count", type=positive_int, default=1,
                            help="rarer question words become <unk> (default: %(default)s)")
        parser.add_argument("--eval-questions", type=non_negative_int, default=0, metavar="N",
                            help="validate on the first N questions (0 = all)")
        parser.add_argument("--per-question", action="store_true",
                            help="one training item per question (default: per image with all its questions; "
                                 "--batch-size then counts images)")
        group = parser.add_argument_group("data (default: the shapes world in --shapes-dir)")
        group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR",
                           help="a shapes world made by `mmrnn data shapes` (generated there if missing; "
                                "default: %(default)s)")
        add_vqa_source_arguments(group, "", "training split")
        add_vqa_source_arguments(group, "val-", "validation split (optional)")
        add_validation_arguments(group, unit="images")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.datasets.vqa import shapes_source
        from multimodal_rnn.tasks.vqa.models import MODELS
        from multimodal_rnn.tasks.vqa.training import (
            VALIDATION_METRIC,
            VQATrainingConfig,
            train_vqa,
            vqa_training_records,
        )

        check_options(needs(args, TRAIN_NEEDS))
        model = model_overrides(args.set, models=MODELS, model_name=args.model)
        train_source = vqa_source_from_args(args, "", need_annotations=True)
        val_source = vqa_source_from_args(args, "val-", need_annotations=True)
        names = ("--questions", "--val-questions")
        if train_source is None:
            ensure_shapes_world(args.shapes_dir, "vqa_questions_train.json", context)
            train_source, val_source = shapes_source(args.shapes_dir, "train"), shapes_source(args.shapes_dir, "val")
            names = ("shapes world training split", "shapes world validation split")
        lines: list[str] = []
        train_records, val_records, validation = vqa_training_records(
            train_source, val_source, val_fraction=args.val_fraction, seed=args.seed, log=lines.append, names=names)
        if args.loss is not None:
            model["loss"] = args.loss
        task_config = VQATrainingConfig(
            model_name=args.model, model=model, num_answers=args.answers, min_word_count=args.min_count,
            group_by_image=not args.per_question, eval_max_questions=args.eval_questions, init_from=args.init_from,
        )
        result = train_vqa(
            train_records, val_records, task_config,
            trainer_config_from_args(args, validation_metric=VALIDATION_METRIC), args.out, load_image=load_image,
            validation=validation.header() if validation.source == "holdout" else None, progress=context.progress,
            log=TrainingLog.of(context, lines), resume_from=args.out if args.resume else None,
        )
        return Report(lines=(train_report_line(result, VALIDATION_METRIC),),
                      data={"best_metric": result.best_metric, "best_step": result.best_step,
                            "best_checkpoint": str(result.best_checkpoint),
                            "last_checkpoint": str(result.last_checkpoint)})


@dataclass
class PredictCommand:
    """``mmrnn predict vqa``: answer every question of a VQA questions file into a results file."""

    shipped: Mapping[str, str]
    help: str = "answer the questions of a VQA questions file"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description = ("Answer every question and write VQA results [{question_id, answer}].\n"
                              "Default data: the test split of the shapes world in --shapes-dir.")
        add_output_argument(parser, "--out", required=True, metavar="results.json")
        parser.add_argument("--weights", metavar="FILE", help="VQA checkpoint (default: the shipped shapes weights)")
        parser.add_argument("--batch-size", type=positive_int, default=256, metavar="N",
                            help="questions per batch (default: %(default)s)")
        add_image_reading_arguments(parser)
        group = parser.add_argument_group("data")
        group.add_argument("--shapes-dir", type=Path, default=Path("data/shapes"), metavar="DIR",
                           help="shapes world used when --questions is not given (default: %(default)s)")
        group.add_argument("--split", choices=["train", "val", "test"], default="test",
                           help="shapes world split (default: %(default)s)")
        add_vqa_source_arguments(group, "", "questions to answer")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        from multimodal_rnn.datasets.vqa import shapes_source
        from multimodal_rnn.tasks.vqa.predictor import Answerer

        answerer = Answerer.from_checkpoint(resolve_weights(args.weights, self.shipped, task="vqa"))
        source = vqa_source_from_args(args, "", need_annotations=False) or shapes_source(args.shapes_dir, args.split)
        records = source.read()
        if not records:
            raise InputError(f"{source.questions}: no questions")
        predicted = answerer.answer_records(records, load_image, batch_size=args.batch_size,
                                            max_bad_images=args.max_bad_images, progress=context.progress,
                                            workers=args.workers)
        results = [{"question_id": r.question_id, "answer": a} for r, a in zip(records, predicted.answers) if a is not None]
        if not results:
            raise InputError("no image could be read; nothing to write")
        write_json(args.out, sorted(results, key=lambda r: r["question_id"]))
        skipped = len(records) - len(results)
        line = (f"wrote {len(results)} answers to {args.out} ({skipped} questions on {len(predicted.bad_images)} "
                f"unreadable images skipped)")
        return Report(lines=(line,), notes=tuple(f"skipped: {reason}" for reason in predicted.bad_images.values()),
                      data={"answers": len(results), "skipped_questions": skipped, "out": str(args.out)})


@dataclass
class EvalCommand:
    """``mmrnn eval vqa``: official-style VQA accuracy of a results file."""

    help: str = "VQA accuracy (overall, per answer type, per question type)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.description, parser.epilog = EVAL_DESCRIPTION, EVAL_EPILOG
        parser.add_argument("--questions", required=True, type=Path, metavar="JSON", help="VQA questions file")
        parser.add_argument("--annotations", required=True, type=Path, metavar="JSON", help="VQA annotations file")
        parser.add_argument("--results", required=True, type=Path, metavar="JSON", help="VQA results file")
        add_output_argument(parser, "--out", metavar="JSON",
                            help="also write the accuracies and per-question scores here")

    def run(self, args: argparse.Namespace, context: RunContext) -> Report:
        evaluation = evaluate_vqa(args.questions, args.annotations, args.results)
        if args.out is not None:
            try:
                write_json(args.out, evaluation.to_dict())
            except OSError as exc:
                raise InputError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
        return Report(lines=tuple(format_vqa_tables(evaluation).splitlines()),
                      data={"overall": evaluation.overall, "per_answer_type": dict(evaluation.per_answer_type),
                            "num_questions": evaluation.num_questions})


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
