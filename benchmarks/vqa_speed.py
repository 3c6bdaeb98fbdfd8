"""VQA speed on CPU: training samples/s, answers/s, and the official-exact evaluation of 200,000 questions.

    .venv/bin/python benchmarks/vqa_speed.py [--weights FILE] [--set KEY=VALUE ...] [--threads 2] [--quick]

- model: the config of ``--weights FILE`` if it exists, else of ``weights/vqa_shapes.safetensors``
  if present, else the default ``saaa`` config; ``--set`` overrides fields (JSON values, as in
  ``mmrnn train vqa --set``). Training always starts from fresh weights of that config;
- data: shapes-world scenes rendered in memory (train split of the default world), five
  questions each, so no disk is read;
- training: full updates as ``mmrnn train vqa`` makes them (items grouped by image, collate,
  forward, BCE loss, backward, clipping, AdamW, convolution weights channels_last), after
  warm-up updates; reported as questions/s and images/s, with and without image decoding +
  transform (``--batch-size`` images per update, about five questions each), and from ready
  batches with contiguous (NCHW) weights, the baseline of the channels_last ratio (both
  measured twice, interleaved; the faster of each pair is reported);
- answering: :meth:`Answerer.answer_batch` on 256 questions per call (images already
  transformed; channels_last weights as loaded from a checkpoint, against contiguous ones),
  and :meth:`Answerer.ask` one question at a time (PIL image in, answers out);
- evaluation: :func:`multimodal_rnn.metrics.vqa.evaluate_vqa` on ``--eval-questions`` synthetic
  questions (default 200,000, VQA v2 val size) made by ``benchmarks/vqa_eval_speed.py``
  (which also compares it with the official tool run as a process).

The load average (1 minute, before and after) is printed beside each ratio.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image

from multimodal_rnn.checkpoint import read_header
from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.shapes.world import ShapesConfig, image_record, render_scene
from multimodal_rnn.datasets.vqa import (
    AnswerVocabulary,
    VQADataset,
    VQARecord,
    build_question_vocabulary,
    collate_vqa,
    encode_question,
)
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.images import load_image_bytes
from multimodal_rnn.metrics.vqa import evaluate_vqa
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.tasks.vqa.models import VQAModel, VQAModelConfig
from multimodal_rnn.tasks.vqa.predictor import Answerer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import Load, machine_line  # noqa: E402
from vqa_eval_speed import synthetic_vqa  # noqa: E402  (the metric benchmark's data generator)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS = REPO / "weights" / "vqa_shapes.safetensors"


def model_choice(weights: str | None, overrides: list[str]) -> tuple[str, dict[str, Any], str]:
    """(model name, config dict without vocabulary sizes, a line saying where it came from)."""
    for candidate in ([Path(weights)] if weights else []) + [DEFAULT_WEIGHTS]:
        if candidate.is_file():
            header = read_header(candidate)
            name, source = header["model_name"], f"config of {candidate}"
            config = config_to_dict(MODELS.stored_config(name, header["model_config"]))  # older headers upgraded
            break
    else:
        name, config, source = "saaa", {}, "default saaa config"
    for pair in overrides:
        key, _, value = pair.partition("=")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    for key in ("num_words", "num_answers", "pad_id"):
        config.pop(key, None)
    return name, config, source + (f" with {' '.join(overrides)}" if overrides else "")


def shapes_data(images: int) -> tuple[list[VQARecord], dict[str, bytes]]:
    """Records of ``images`` default shapes-world train scenes and their PNG bytes by path."""
    config = ShapesConfig()
    records, files = [], {}
    for index in range(images):
        record = image_record(config, "train", index)
        buffer = io.BytesIO()
        render_scene(record.scene, config.image_size).save(buffer, format="PNG")
        files[record.file_name] = buffer.getvalue()
        for k, question in enumerate(record.questions):
            records.append(VQARecord(record.image_id * 1000 + k, record.image_id, question["question"], record.file_name,
                                     (question["answer"],) * 10, question["question_type"], question["answer_type"]))
    return records, files


def seconds_per_call(run: Callable[[], object], calls: int, warmup: int = 1) -> float:
    """Mean wall-clock seconds of ``calls`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls


def training_rates(name: str, config: VQAModelConfig, dataset: VQADataset, batch_size: int,
                   updates: int, channels_last: bool = True) -> tuple[float, float, float]:
    """(questions per update, seconds per update with data loading, seconds per update without it).

    ``channels_last`` keeps the convolution weights in NHWC order, as the trainer does by default.
    """
    torch.manual_seed(0)
    model = MODELS.build(name, config).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    num_answers = config.num_answers
    starts = [(k * batch_size) % (len(dataset) - batch_size) for k in range(updates + 2)]
    position = iter(range(len(starts)))

    def batch_at(start: int) -> dict[str, Any]:
        return collate_vqa([dataset[i] for i in range(start, start + batch_size)], num_answers=num_answers)

    def update(batch: dict[str, Any]) -> None:
        optimizer.zero_grad(set_to_none=True)
        model(batch)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    with_loading = seconds_per_call(lambda: update(batch_at(starts[next(position)])), updates)
    ready = batch_at(0)
    without_loading = seconds_per_call(lambda: update(ready), updates)
    return len(ready["question"]), with_loading, without_loading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", metavar="FILE", help=f"take the model config from this checkpoint (default: {DEFAULT_WEIGHTS} if present)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model config override")
    parser.add_argument("--batch-size", type=int, default=32, help="images per training update (as mmrnn train vqa)")
    parser.add_argument("--updates", type=int, default=20, help="timed training updates")
    parser.add_argument("--singles", type=int, default=50, help="questions asked one at a time")
    parser.add_argument("--eval-questions", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="short run: 5 updates, 10 singles, 20,000 eval questions")
    args = parser.parse_args()
    if args.quick:
        args.updates, args.singles, args.eval_questions = 5, 10, 20_000
    torch.set_num_threads(args.threads)

    name, overrides, source = model_choice(args.weights, args.set)
    records, files = shapes_data(max(args.batch_size * 3, 256 // 5 + 1))
    vocab, answers = build_question_vocabulary(records), AnswerVocabulary.build(records)
    config = MODELS.config(name, {**overrides, "num_words": len(vocab), "num_answers": len(answers)}, where="--set")
    transform = build_transform(config.encoder)
    dataset = VQADataset(records, transform, lambda path: load_image_bytes(files[path], name=path),
                         lambda text: encode_question(vocab, text, config.max_question_length), answers)
    print(f"model: {name}, {source}")
    print(f"torch {torch.__version__}, CPU, threads={torch.get_num_threads()}, encoder {config.encoder.backbone} "
          f"{config.encoder.image_size}px")
    print(machine_line())
    load = Load()

    timings: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for channels_last in (False, True, False, True):  # interleaved, so that machine load hits both alike
        questions, with_loading, without_loading = training_rates(name, config, dataset, args.batch_size, args.updates,
                                                                  channels_last=channels_last)
        timings[channels_last].append((with_loading, without_loading))
    with_loading, without_loading = (min(column) for column in zip(*timings[True]))
    contiguous = min(ready for _, ready in timings[False])
    print(f"training, {args.batch_size} images = {questions} questions per update (channels_last, as the trainer):")
    print(f"  with image decoding      {questions / with_loading:8.1f} questions/s  {args.batch_size / with_loading:7.1f} images/s")
    print(f"  batches already made     {questions / without_loading:8.1f} questions/s  {args.batch_size / without_loading:7.1f} images/s")
    print(f"  same, contiguous NCHW    {questions / contiguous:8.1f} questions/s  {args.batch_size / contiguous:7.1f} images/s"
          f"  (channels_last {contiguous / without_loading:.2f}x, {load.stop()})")
    load = Load()

    model = MODELS.build(name, config)
    assert isinstance(model, VQAModel)
    answerer = Answerer(model, vocab, answers, transform)
    per_image = len(records) // len(dataset)
    batch = collate_vqa([dataset[i] for i in range(256 // per_image)])
    batched_nchw = seconds_per_call(lambda: answerer.answer_batch(batch), 5)
    model.to(memory_format=torch.channels_last)  # as Answerer.from_checkpoint (load_model) lays it out
    batched = seconds_per_call(lambda: answerer.answer_batch(batch), 5)
    image = Image.open(io.BytesIO(files[records[0].image_path])).convert("RGB")
    singles = [(image, record.question) for record in records[: args.singles]]
    one_by_one = seconds_per_call(lambda: [answerer.ask(i, q) for i, q in singles], 1) / len(singles)
    print("answering:")
    print(f"  batch of {len(batch['question'])} questions     {len(batch['question']) / batched:8.1f} answers/s"
          f"  (contiguous NCHW weights: {len(batch['question']) / batched_nchw:.1f}/s, channels_last {batched_nchw / batched:.2f}x, {load.stop()})")
    print(f"  one question per call    {1 / one_by_one:8.1f} answers/s  ({1000 * one_by_one:.1f} ms each, PIL image in)")

    questions_data, annotations, results = synthetic_vqa(args.eval_questions, 0.35, 0)
    start = time.perf_counter()
    evaluation = evaluate_vqa(questions_data, annotations, results)
    seconds = time.perf_counter() - start
    print(f"evaluation: evaluate_vqa on {args.eval_questions:,} questions x 10 answers: {seconds:.2f} s "
          f"({args.eval_questions / seconds:,.0f} questions/s; overall {evaluation.overall:.2f})")


if __name__ == "__main__":
    main()
