"""ONNX export and the torch-free runtime: tiny models give PyTorch's captions and answers.

Greedy and beam-3 captions equal token for token with scores within 1e-4, VQA answers equal;
the manifest is checked; ``mmrnn export`` and ``--runtime onnx`` work from the command line, and
the runtime imports no torch (a subprocess where ``import torch`` fails).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

import multimodal_rnn
from apps.cli import main
from apps.server.app import ServerSettings, create_app
from apps.server.inference import load_models
from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.datasets.vqa import AnswerVocabulary, VQARecord, build_question_vocabulary
from multimodal_rnn.errors import CheckpointError, InputError
from multimodal_rnn.runtime.caption import ExportedCaptioner
from multimodal_rnn.runtime.manifest import MANIFEST_NAME, read_manifest
from multimodal_rnn.runtime.vqa import ExportedAnswerer
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.tasks.caption.export import export_captioner
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.tasks.vqa.export import export_answerer
from multimodal_rnn.tasks.vqa.predictor import Answerer
from multimodal_rnn.text.vocab import Vocabulary

ROOT = Path(__file__).resolve().parents[1]
WORDS = "a red blue green circle square triangle left of right the is and small large".split()
CAPTION_MODELS = {
    "show_tell": {"cell": "gru", "num_layers": 2},
    "show_attend_tell": {"attention_size": 16},
    "updown": {"attention_size": 16},
}
SEEDS = {"show_tell": 0, "show_attend_tell": 4, "updown": 0}
"""Seeds whose random models give captions of several lengths, some ending before max_length, on these images."""
SMALL = {"embed_size": 16, "hidden_size": 24, "max_length": 9, "encoder": {"channels": [8, 16], "image_size": 32}}
VQA_MODELS = {
    "saaa_rel": {"attention_size": 16, "path_size": 4, "normalize_image": False},
    "lstm_q_norm_i": {"fusion_size": 16, "cell": "gru"},
}
VQA_SMALL = {
    "embed_size": 8,
    "hidden_size": 16,
    "classifier_size": 16,
    "num_layers": 1,
    "max_question_length": 6,
    "encoder": {"channels": [8, 8, 16], "image_size": 32},
}
QUESTIONS = [
    "is the circle left of the square?",
    "what color is the square?",
    "how many shapes?",
    "is there a red one?",
    "what is left of the blue triangle and the green circle of the square?",
    "?! red",
]


def _images(count: int = 6) -> list[Image.Image]:
    """Images of different colors and sizes (one a resize away from the model's 32 x 32)."""
    rng = np.random.default_rng(0)
    images = []
    for index in range(count):
        pixels = np.full((32 + 8 * (index % 2), 32, 3), rng.integers(0, 256, 3), dtype=np.uint8)
        pixels[4:20, 4 + 2 * index : 20 + 2 * index] = rng.integers(0, 256, 3)
        images.append(Image.fromarray(pixels))
    return images


def _caption_checkpoint(folder: Path, name: str) -> Path:
    torch.manual_seed(SEEDS[name])
    vocab = Vocabulary.build([WORDS])
    model = MODELS.build(name, {**SMALL, **CAPTION_MODELS[name], "vocab_size": len(vocab)})
    with torch.no_grad():
        model.output.weight.mul_(6.0)  # peaked distributions: captions of several words, some ending before max_length
    path = folder / f"{name}.safetensors"
    save_checkpoint(path, model, task="caption", model_name=name, model_config=model.config, vocab=vocab.to_dict())
    return path


def _vqa_checkpoint(folder: Path, name: str) -> Path:
    torch.manual_seed(1)
    records = [
        VQARecord(i, i, question, "", (answer,) * 10)
        for i, (question, answer) in enumerate(zip(QUESTIONS, ["yes", "red", "2", "no", "blue", "3"]))
    ]
    vocab, answers = build_question_vocabulary(records), AnswerVocabulary.build(records)
    model = MODELS.build(name, {**VQA_SMALL, **VQA_MODELS[name], "num_words": len(vocab), "num_answers": len(answers)})
    path = folder / f"{name}.safetensors"
    save_checkpoint(
        path,
        model,
        task="vqa",
        model_name=name,
        model_config=model.config,
        vocab=vocab.to_dict(),
        answers=list(answers.answers),
    )
    return path


class Exports:
    """Each tiny model exported once per test module, when a test first asks for it (an export takes seconds)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.done = folder, {}

    def caption(self, name: str) -> tuple[Path, Path]:
        if name not in self.done:
            weights = _caption_checkpoint(self.folder, name)
            export_captioner(weights, self.folder / f"{name}.onnx")
            self.done[name] = weights, self.folder / f"{name}.onnx"
        return self.done[name]

    def vqa(self, name: str) -> tuple[Path, Path]:
        if name not in self.done:
            weights = _vqa_checkpoint(self.folder, name)
            export_answerer(weights, self.folder / f"{name}.onnx")
            self.done[name] = weights, self.folder / f"{name}.onnx"
        return self.done[name]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    return Exports(tmp_path_factory.mktemp("exports"))


SLOW = pytest.mark.slow  # CI exports the shipped architecture of each task; the others in the slow run
CAPTION_CASES = [pytest.param("show_tell", marks=SLOW), "show_attend_tell", pytest.param("updown", marks=SLOW)]
VQA_CASES = [pytest.param("saaa_rel", marks=SLOW), "lstm_q_norm_i"]


@pytest.mark.parametrize("name", CAPTION_CASES)
@pytest.mark.parametrize("beam", [1, 3])
def test_exported_captions_equal_pytorch_token_for_token(exports: Exports, name: str, beam: int) -> None:
    weights, folder = exports.caption(name)
    images = _images()
    expected = Captioner.from_checkpoint(weights).caption(images, beam_size=beam, with_attention=True)
    got = ExportedCaptioner(folder).caption(images, beam_size=beam, with_attention=True)
    assert [result.words for result in got] == [result.words for result in expected]
    assert len({len(result.words) for result in expected}) > 1  # the test sees captions of several lengths
    for mine, theirs in zip(got, expected):
        assert mine.score == pytest.approx(theirs.score, abs=1e-4)
        if theirs.attention is None:
            assert mine.attention is None
        else:
            assert mine.attention is not None
            np.testing.assert_allclose(mine.attention, theirs.attention.numpy(), atol=1e-4)


def test_exported_beam_options_equal_pytorch(exports: Exports) -> None:
    weights, folder = exports.caption("show_attend_tell")
    images = _images()
    options = {"beam_size": 4, "length_penalty": 0.6, "block_repeated_trigrams": True, "max_length": 5}
    expected = Captioner.from_checkpoint(weights).caption(images, **options)
    got = ExportedCaptioner(folder).caption(images, batch_size=4, **options)
    assert [result.words for result in got] == [result.words for result in expected]
    assert [result.score for result in got] == pytest.approx([result.score for result in expected], abs=1e-4)


@pytest.mark.parametrize("name", VQA_CASES)
def test_exported_answers_equal_pytorch(exports: Exports, name: str) -> None:
    weights, folder = exports.vqa(name)
    images = _images(len(QUESTIONS))
    answerer, exported = Answerer.from_checkpoint(weights), ExportedAnswerer(folder)
    expected = answerer.answer(images, QUESTIONS, top=3, with_attention=True)
    got = exported.answer(images, QUESTIONS, top=3, with_attention=True)
    assert [[a for a, _ in r.answers] for r in got] == [[a for a, _ in r.answers] for r in expected]
    for mine, theirs in zip(got, expected):
        assert [p for _, p in mine.answers] == pytest.approx([p for _, p in theirs.answers], abs=1e-4)
        assert (mine.attention is None) == (theirs.attention is None)
    assert exported.encode(QUESTIONS[4]) == answerer.encode(QUESTIONS[4])  # cut to max_question_length
    with pytest.raises(InputError, match="empty"):
        exported.encode("?!?")


def test_the_manifest_records_what_the_runtime_needs(exports: Exports) -> None:
    assert isinstance(multimodal_rnn.load_predictor(exports.caption("show_attend_tell")[1]), ExportedCaptioner)
    manifest = read_manifest(exports.caption("show_attend_tell")[1], task="caption")
    assert manifest["opset"] == 20 and manifest["quantized"] is None and manifest["model"] == "show_attend_tell"
    assert manifest["decoder"]["state"] == ["state.core.0", "state.core.1", "state.attention"]
    assert manifest["decoder"]["record"] == "state.attention"
    assert manifest["special_ids"] == {"pad": 0, "bos": 1, "eos": 2, "unk": 3}
    assert manifest["transform"] == {"backbone": "small_cnn", "image_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3}
    assert manifest["source"]["file"] == "show_attend_tell.safetensors" and manifest["card"] is None
    vqa = read_manifest(exports.vqa("lstm_q_norm_i")[1], task="vqa")
    assert vqa["graphs"]["answer"]["outputs"] == ["logits"]
    assert vqa["classifier"]["question_steps"] == 6 and len(vqa["answers"]) == 6


def test_a_changed_graph_or_a_wrong_folder_is_a_one_line_error(exports: Exports, tmp_path: Path) -> None:
    source = exports.caption("show_attend_tell")[1]
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in source.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    with pytest.raises(CheckpointError, match="not 'vqa'"):
        read_manifest(copy, task="vqa")
    (copy / "step.onnx").write_bytes((copy / "step.onnx").read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="step.onnx: sha256 differs"):
        ExportedCaptioner(copy)
    with pytest.raises(InputError, match="no export.json"):
        read_manifest(tmp_path)
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    (copy / MANIFEST_NAME).write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(CheckpointError, match="manifest version 99"):
        read_manifest(copy)


def test_export_and_runtime_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = _caption_checkpoint(tmp_path, "show_attend_tell")
    image = tmp_path / "scene.png"
    _images(1)[0].save(image)
    out = tmp_path / "deploy"
    assert main(["export", "caption", "--weights", str(weights), "--out", str(out), "--quantize", "int8"]) == 0
    assert "opset 20, int8" in capsys.readouterr().out
    assert read_manifest(out)["quantized"] == "int8"
    assert main(["caption", "--runtime", "onnx", "--weights", str(out), str(image), "--json", "--beam", "2"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["image"] == str(image) and isinstance(line["caption"], str)
    assert main(["caption", "--runtime", "onnx", str(image)]) == 2
    assert "--runtime onnx needs --weights DIR" in capsys.readouterr().err
    assert main(["caption", "--runtime", "onnx", "--weights", str(tmp_path), str(image)]) == 2
    assert "no export.json" in capsys.readouterr().err


TORCH_FREE = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, NoTorch())
from apps.cli import main
caption, vqa, image = sys.argv[1:4]
status = main(["caption", "--runtime", "onnx", "--weights", caption, image, "--beam", "3", "--threads", "1"])
question = "what color is the square?"
status += main(["ask", "--runtime", "onnx", "--weights", vqa, image, question, "--top", "1", "--json"])
assert "torch" not in sys.modules, "torch was imported"
sys.exit(status)
"""


def test_the_runtime_and_its_commands_import_no_torch(exports: Exports, tmp_path: Path) -> None:
    image = tmp_path / "scene.png"
    picture = _images(1)[0]
    picture.save(image)
    caption_weights, caption_folder = exports.caption("show_attend_tell")
    vqa_weights, vqa_folder = exports.vqa("lstm_q_norm_i")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(caption_folder), str(vqa_folder), str(image)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    caption_line, answer_line = done.stdout.splitlines()
    assert (
        caption_line
        == Captioner.from_checkpoint(caption_weights).caption([Image.open(image).convert("RGB")])[0].caption
    )
    expected = Answerer.from_checkpoint(vqa_weights).ask(
        Image.open(image).convert("RGB"), "what color is the square?", top=1
    )
    assert json.loads(answer_line)["answers"][0]["answer"] == expected[0][0]


def test_the_server_serves_export_folders(exports: Exports) -> None:
    caption_weights, caption_folder = exports.caption("show_attend_tell")
    vqa_weights, vqa_folder = exports.vqa("lstm_q_norm_i")
    models = load_models({"caption": caption_folder, "vqa": vqa_folder})
    picture = _images(1)[0]
    png = io.BytesIO()
    picture.save(png, format="PNG")
    image = {"image": ("scene.png", png.getvalue(), "image/png")}
    with TestClient(create_app(models, ServerSettings()), base_url="http://127.0.0.1") as client:
        caption = client.post("/v1/caption", data={"beam_size": "3"}, files=image)
        answer = client.post("/v1/vqa", data={"question": QUESTIONS[1], "top": "2"}, files=image)
        listed = client.get("/v1/models").json()
    assert caption.status_code == 200 and answer.status_code == 200
    expected = Captioner.from_checkpoint(caption_weights).caption([picture])[0]
    assert caption.json()["caption"] == expected.caption and caption.json()["attention"] is not None
    assert [a["answer"] for a in answer.json()["answers"]] == [
        a for a, _ in Answerer.from_checkpoint(vqa_weights).ask(picture, QUESTIONS[1], top=2)
    ]
    described = {entry["task"]: entry for entry in listed["models"]}
    assert described["caption"]["runtime"] == "onnx" and described["caption"]["model"] == "show_attend_tell"


def test_without_onnxruntime_running_an_export_is_a_one_line_error(
    exports: Exports, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = exports.caption("show_attend_tell")[1]
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    with pytest.raises(InputError, match="needs onnxruntime: pip install onnxruntime"):
        ExportedCaptioner(folder)
