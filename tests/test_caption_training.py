"""Caption training end to end on a tiny shapes world: CLI train, resume, SCST, predict, eval; the
validation follows the model's device."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from apps.cli import main
from multimodal_rnn.checkpoint import read_header
from multimodal_rnn.datasets.captions import read_coco_captions
from multimodal_rnn.datasets.shapes.world import ShapesConfig, generate_shapes_world
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.images import load_image
from multimodal_rnn.metrics.cider import CiderD
from multimodal_rnn.tasks.caption.models import MODELS
from multimodal_rnn.tasks.caption.self_critical import SelfCriticalObjective
from multimodal_rnn.tasks.caption.training import make_validation
from multimodal_rnn.text.vocab import Vocabulary, tokenize

SMALL_MODEL = ["--set", "hidden_size=32", "--set", "embed_size=16", "--set", "attention_size=16",
               "--set", 'encoder={"channels": [8, 8, 16, 16]}']


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shapes")
    generate_shapes_world(out, ShapesConfig(train_size=24, val_size=6, test_size=6, seed=3))
    return out


def _train(shapes: Path, out: Path, *extra: str) -> int:
    return main(["train", "caption", "--shapes-dir", str(shapes), "--out", str(out), "--batch-size", "16",
                 "--warmup-steps", "2", *SMALL_MODEL, *extra])


def test_train_writes_checkpoints_and_resume_matches_uninterrupted(shapes: Path, tmp_path: Path) -> None:
    assert _train(shapes, tmp_path / "full", "--epochs", "2") == 0
    header = read_header(tmp_path / "full" / "best.safetensors")
    assert header["task"] == "caption" and header["model_name"] == "show_attend_tell"
    assert "CIDEr" in header["metrics"] and header["vocab"]["tokens"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    log = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert any("eval" in line for line in log)

    assert _train(shapes, tmp_path / "split", "--epochs", "2", "--max-steps", "9") == 0
    assert _train(shapes, tmp_path / "split", "--epochs", "2", "--resume") == 0
    from safetensors.torch import load_file

    full = load_file(str(tmp_path / "full" / "last.safetensors"))
    resumed = load_file(str(tmp_path / "split" / "last.safetensors"))
    assert full.keys() == resumed.keys()
    assert all(torch.allclose(full[k], resumed[k], atol=1e-6) for k in full)


def test_self_critical_stage_and_predict_eval(shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(shapes, tmp_path / "xe", "--epochs", "1") == 0
    start = tmp_path / "xe" / "last.safetensors"
    assert main(["train", "caption", "--shapes-dir", str(shapes), "--out", str(tmp_path / "scst"), "--epochs", "1",
                 "--batch-size", "8", "--self-critical", "--init-from", str(start), "--scst-samples", "3",
                 "--lr", "1e-4", "--warmup-steps", "0", "--log-every", "1"]) == 0
    log = [json.loads(line) for line in (tmp_path / "scst" / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in line for line in log)
    weights = tmp_path / "scst" / "last.safetensors"
    results = tmp_path / "results.json"
    assert main(["predict", "caption", "--annotations", str(shapes / "captions_test.json"),
                 "--image-dir", str(shapes / "images" / "test"), "--weights", str(weights),
                 "--out", str(results), "--beam", "2"]) == 0
    predictions = json.loads(results.read_text())
    assert sorted(p["image_id"] for p in predictions) == sorted(
        i["id"] for i in json.loads((shapes / "captions_test.json").read_text())["images"])
    assert main(["eval", "caption", "--results", str(results), "--annotations", str(shapes / "captions_test.json"),
                 "--no-meteor", "--scenes", str(shapes / "scenes_test.json"), "--out", str(tmp_path / "m.json")]) == 0
    assert "CIDEr" in capsys.readouterr().out
    report = json.loads((tmp_path / "m.json").read_text())
    assert 0.0 <= report["metrics"]["Faithfulness"] <= 1.0
    references = [{"image_id": a["image_id"], "caption": a["caption"]}
                  for a in json.loads((shapes / "captions_test.json").read_text())["annotations"]]
    first = list({r["image_id"]: r for r in references}.values())  # one true caption per image
    (tmp_path / "true.json").write_text(json.dumps(first))
    assert main(["eval", "caption", "--results", str(tmp_path / "true.json"), "--annotations",
                 str(shapes / "captions_test.json"), "--no-meteor", "--scenes", str(shapes / "scenes_test.json"),
                 "--out", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["metrics"]["Faithfulness"] == 1.0


def test_train_refuses_bad_options(shapes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(shapes, tmp_path / "bad", "--set", "hiden_size=3") == 2
    assert "unknown key(s) hiden_size" in capsys.readouterr().err
    assert main(["train", "caption", "--out", str(tmp_path / "x"), "--self-critical", "--shapes-dir", str(shapes)]) == 2
    assert "init_from" in capsys.readouterr().err


def test_train_refuses_an_option_the_chosen_model_does_not_have(shapes: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(shapes, tmp_path / "bad", "--model", "show_tell") == 2  # SMALL_MODEL sets attention_size
    err = capsys.readouterr().err
    assert "show_tell config: unknown key(s) attention_size" in err and err.count("\n") == 1


class _Stop(Exception):
    """Raised by the hook once the first batch reached the encoder."""


@pytest.mark.parametrize("wrapped", [False, True])
def test_validation_sends_images_to_the_device_the_model_is_on(shapes: Path, wrapped: bool) -> None:
    records = read_coco_captions(shapes / "captions_val.json", shapes / "images" / "val")
    vocab = Vocabulary.build([tokenize(c) for r in records for c in r.captions])
    model = MODELS.build("show_attend_tell", {"vocab_size": len(vocab), "hidden_size": 16, "embed_size": 8,
                                              "attention_size": 8, "encoder": {"channels": [8, 8, 16, 16]}})
    evaluate = make_validation(records, vocab, build_transform(model.config.encoder), load_image, beam_size=1)
    seen: list[torch.device] = []

    def record_device(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        seen.append(inputs[0].device)
        raise _Stop

    model.encoder.register_forward_pre_hook(record_device)
    references = [[" ".join(tokenize(c)) for c in r.captions] for r in records]
    module = SelfCriticalObjective(model, CiderD(references), references, vocab.decode) if wrapped else model
    module.to("meta")  # where the trainer put it (a GPU in real runs): the validation follows
    with pytest.raises(_Stop):
        evaluate(module)
    assert seen == [torch.device("meta")]
