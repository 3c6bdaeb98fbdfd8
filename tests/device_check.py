"""Device checks for the device tests: every tensor that reaches a module is on that module's device.

* :func:`watch_devices` records, through a global forward pre-hook, every module call whose
  positional tensor inputs (nested in tuples, lists, dicts and dataclasses) are not on the device
  of the module's parameters (or buffers). A ``PackedSequence`` counts by its data: PyTorch keeps
  its ``batch_sizes`` on the CPU by design.
* :func:`on_meta` runs code with a model moved, in place, to the ``meta`` device, then puts the very
  same parameter and buffer objects back (an optimizer holding them keeps working). On a machine
  without a GPU this is the way to see a CPU tensor sent to a model that lives elsewhere: the
  meta device has no data, so the run stops at the first data-dependent operation, but every
  module call before it has been checked.
* :func:`probe_validation` makes every :class:`~multimodal_rnn.training.trainer.Trainer` run its
  validation callback once with the trained module on ``meta`` before the real validation: the
  check that validation follows the model to whatever device the trainer moved it to.
* :data:`TINY_RUNS`: every task's train -> validate -> predict at toy sizes, for the device tests
  here and the CUDA smoke test.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
from multimodal_rnn.tasks.navigation.demos import generate_demonstrations, save_demonstrations
from multimodal_rnn.tasks.navigation.rollout import evaluate_agent
from multimodal_rnn.training.trainer import Trainer

META = torch.device("meta")
MAX_REPORTED = 20


@dataclasses.dataclass
class DeviceLog:
    """What :func:`watch_devices` saw: calls per module device type, mismatches, and how a run stopped."""

    calls: dict[str, int] = dataclasses.field(default_factory=dict)
    mismatches: list[str] = dataclasses.field(default_factory=list)
    stopped_by: str | None = None

    def check(self) -> None:
        """Fail the test on any mismatch (and on a run stopped by a device error)."""
        problems = list(self.mismatches)
        if self.stopped_by is not None and "device" in self.stopped_by.lower():
            problems.append(f"stopped by: {self.stopped_by}")
        assert not problems, "tensors on the wrong device:\n" + "\n".join(problems[:MAX_REPORTED])


def module_device(module: nn.Module) -> torch.device | None:
    """The device of the module's first parameter (or buffer); None for a module without either."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        return tensor.device
    return None


def _tensors(value: Any, where: str, depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    if depth > 4:
        return
    if isinstance(value, PackedSequence):
        yield f"{where}.data", value.data
    elif isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{where}[{key!r}]", depth + 1)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _tensors(item, f"{where}[{index}]", depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _tensors(getattr(value, item.name), f"{where}.{item.name}", depth + 1)


@contextmanager
def watch_devices() -> Iterator[DeviceLog]:
    """Record every module call inside the block whose tensor inputs sit on another device."""
    log = DeviceLog()

    def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
        device = module_device(module)
        if device is None:
            return None
        log.calls[device.type] = log.calls.get(device.type, 0) + 1
        for where, tensor in _tensors(args, "input"):
            if tensor.device != device:
                log.mismatches.append(f"{type(module).__name__} {where}: a {tensor.device} tensor "
                                      f"{tuple(tensor.shape)}, parameters on {device}")
        return None

    handle = nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield log
    finally:
        handle.remove()


@contextmanager
def _moved_to_meta(model: nn.Module) -> Iterator[None]:
    slots = [(module, store, name, tensor) for module in model.modules()
             for store in (module._parameters, module._buffers) for name, tensor in store.items()]
    model.to(META)
    try:
        yield
    finally:
        for module, store, name, tensor in slots:
            store[name] = tensor


def on_meta(model: nn.Module, run: Callable[[], Any]) -> DeviceLog:
    """Run ``run()`` with ``model`` on the meta device and watched (see the module docstring).

    The run ends normally or at the first operation that needs data (``stopped_by`` tells which);
    ``model`` then has its own parameters and buffers back, unchanged.
    """
    with _moved_to_meta(model), watch_devices() as log:
        try:
            run()
        except (RuntimeError, NotImplementedError) as exc:  # meta tensors have no data to read
            log.stopped_by = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return log


def probe_validation(monkeypatch: pytest.MonkeyPatch) -> list[DeviceLog]:
    """Make every Trainer's validation run once on a meta-moved module first; returns their logs."""
    logs: list[DeviceLog] = []
    original = Trainer.__init__

    def init(self: Trainer, *args: Any, evaluate: Any = None, **kwargs: Any) -> None:
        def probed(module: nn.Module) -> Any:
            logs.append(on_meta(module, lambda: evaluate(module)))
            return evaluate(module)

        original(self, *args, evaluate=None if evaluate is None else probed, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", init)
    return logs


def check_probe(log: DeviceLog) -> None:
    """A meta run reached a module on the meta device and saw no input on another device."""
    log.check()
    assert log.calls.get("meta", 0) > 0, (
        f"nothing reached the meta-moved model (calls per device: {log.calls}; stopped by {log.stopped_by}): "
        "the code under test does not use the model it was given")


# -- a tiny train -> validate -> predict run of every task ---------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
NAVIGATION_LEVEL = "BabyAI-GoToRedBall-v0"


def _sets(options: dict[str, Any]) -> list[str]:
    return [arg for key, value in options.items() for arg in ("--set", f"{key}={json.dumps(value)}")]


def _samples() -> list[Image.Image]:
    images = []
    for path in sorted(SAMPLES.glob("shapes_test_*.png")):
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def make_shapes(root: Path) -> Path:
    """A shapes world of 8 train, 4 val and 4 test images."""
    generate_shapes_world(root, ShapesConfig(train_size=8, val_size=4, test_size=4, seed=3))
    return root


def make_demos(root: Path) -> Path:
    """Four BabyAI bot demonstrations of :data:`NAVIGATION_LEVEL`."""
    path = root / "demos.npz"
    save_demonstrations(path, generate_demonstrations(NAVIGATION_LEVEL, 4, seed=10))
    return path


def make_moving_shapes(root: Path) -> Path:
    """A moving-shapes world of 8 train, 4 val and 4 test clips of 8 frames of 32 x 32."""
    from multimodal_rnn.datasets.moving_shapes import MovingShapesConfig, generate_moving_shapes

    generate_moving_shapes(root, MovingShapesConfig(train_size=8, val_size=4, test_size=4, num_frames=8, frame_size=32))
    return root


def _clips(data: Path) -> list[Any]:
    from multimodal_rnn.video import read_clip

    return [read_clip(path, num_frames=8) for path in sorted((data / "ucf").glob("*/*.avi"))[:3]]


def _predict_action(classifier: Any, data: Path) -> None:
    assert len(classifier.classify(_clips(data), top=2)) == 3


def _predict_frames(labeler: Any, data: Path) -> None:
    assert [len(result.labels) for result in labeler.label(_clips(data))] == [8, 8, 8]


_TINY_CLIP_MODEL = {"encoder": {"channels": [4, 8], "image_size": 32}, "spatial_size": 8, "hidden_size": 8,
                    "num_frames": 8}


def _predict_caption(captioner: Any, data: Path) -> None:
    images = _samples()
    assert len(captioner.caption(images, beam_size=2, with_attention=True)) == len(images)
    assert len(captioner.caption(images[:1], beam_size=1)) == 1


def _predict_vqa(answerer: Any, data: Path) -> None:
    images = _samples()
    questions = ["how many shapes are there?", "is there a red circle?", "what color is the square?"][: len(images)]
    assert len(answerer.answer(images, questions, top=2, with_attention=True)) == len(images)


def _predict_dialog(agent: Any, data: Path) -> None:
    session = agent.session(_samples()[0], "a picture of shapes")
    for question in ("how many shapes are there?", "is there a circle?"):
        assert isinstance(session.ask(question).answer, str)


def _predict_navigation(agent: Any, data: Path) -> None:
    summary, results = evaluate_agent(agent, NAVIGATION_LEVEL, [10**9 + i for i in range(3)], batch_size=2)
    assert len(results) == 3 and 0.0 <= summary["success_rate"] <= 1.0


def _predict_video_caption(captioner: Any, data: Path) -> None:
    clips = [captioner.read(path) for path in sorted((data / "msrvtt" / "videos").iterdir())[:2]]
    assert len(captioner.caption(clips, beam_size=2, with_attention=True)) == 2
    assert len(captioner.caption(clips[:1], beam_size=1)) == 1


@dataclasses.dataclass(frozen=True)
class TinyRun:
    """One task at toy sizes: its data, its ``mmrnn train TASK`` options, and a use of its predictor.

    Attributes:
        make_data: ``make_data(folder) -> path`` of the training data (made once per test session).
        train_options: ``train_options(data) -> argv`` after ``mmrnn train TASK`` (no ``--out``,
            ``--device`` or ``--amp``); one short epoch, validated at its end.
        predict: ``predict(predictor, data)`` calls the predictor's public methods.
    """

    make_data: Callable[[Path], Path]
    train_options: Callable[[Path], list[str]]
    predict: Callable[[Any, Path], None]


TINY_RUNS: dict[str, TinyRun] = {
    "caption": TinyRun(make_shapes, lambda data: [
        "--shapes-dir", str(data), "--epochs", "1", "--batch-size", "4", "--warmup-steps", "1",
        *_sets({"hidden_size": 16, "embed_size": 8, "attention_size": 8, "encoder": {"channels": [8, 8]}})],
        _predict_caption),
    "vqa": TinyRun(make_shapes, lambda data: [
        "--shapes-dir", str(data), "--epochs", "1", "--batch-size", "4", "--warmup-steps", "1",
        *_sets({"embed_size": 8, "hidden_size": 8, "attention_size": 8, "classifier_size": 8, "num_layers": 1,
                "encoder": {"channels": [8, 8]}})],
        _predict_vqa),
    "dialog": TinyRun(make_shapes, lambda data: [
        "--shapes-dir", str(data), "--epochs", "1", "--batch-size", "4",
        *_sets({"embed_size": 8, "hidden_size": 16, "attention_size": 8,
                "encoder": {"backbone": "small_cnn", "channels": [8, 8]}})],
        _predict_dialog),
    "navigation": TinyRun(make_demos, lambda data: [
        "--demos", str(data), "--epochs", "1", "--batch-size", "2", "--val-episodes", "2",
        *_sets({"channels": 8, "instruction_size": 8, "word_size": 8, "memory_size": 8, "actor_size": 8})],
        _predict_navigation),
    "action": TinyRun(make_moving_shapes, lambda data: [
        "--world", str(data), "--epochs", "1", "--batch-size", "4", "--warmup-steps", "1", *_sets(_TINY_CLIP_MODEL)],
        _predict_action),
    "frames": TinyRun(make_moving_shapes, lambda data: [
        "--world", str(data), "--epochs", "1", "--batch-size", "4", "--warmup-steps", "1", *_sets(_TINY_CLIP_MODEL)],
        _predict_frames),
    "video_caption": TinyRun(make_moving_shapes, lambda data: [
        "--data-dir", str(data), "--epochs", "1", "--batch-size", "3", "--warmup-steps", "1",
        *_sets({"hidden_size": 16, "embed_size": 8, "frame_size": 8, "attention_size": 8, "num_frames": 4,
                "encoder": {"channels": [8, 8], "image_size": 32}})],
        _predict_video_caption),
}
"""Every task's tiny run; a task without one fails ``test_every_task_has_a_tiny_run``."""
