"""Caption heads: every registered model runs through one step(); a tiny model overfits exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from apps.cli import main
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.decoding import beam_search
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.tasks.caption.models import CaptionModelConfig
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.text.vocab import Vocabulary

CAPTIONS = ["a red circle", "two blue squares", "a green triangle above a red circle", "one yellow shape"]
COLORS = [(220, 30, 30), (30, 30, 220), (30, 200, 30), (230, 220, 20)]
SMALL = {"embed_size": 32, "hidden_size": 64, "attention_size": 32, "dropout": 0.0,
         "encoder": {"channels": [8, 16, 16, 32], "image_size": 32}}


def _vocab() -> Vocabulary:
    return Vocabulary.build([c.split() for c in CAPTIONS])


def _images() -> list[Image.Image]:
    images = []
    for index, color in enumerate(COLORS):
        image = Image.new("RGB", (32, 32), (200, 200, 200))
        image.paste(color, (4 + 5 * index, 4, 20 + 5 * index, 20))
        images.append(image)
    return images


def _build(name: str, vocab: Vocabulary, **overrides: object) -> torch.nn.Module:
    config = {**SMALL, **overrides, "vocab_size": len(vocab)}
    return MODELS.build(name, config)


@pytest.mark.parametrize("name", MODELS.names(task="caption"))
def test_every_caption_model_runs_and_beam_one_equals_greedy(name: str) -> None:
    torch.manual_seed(0)
    vocab = _vocab()
    model = _build(name, vocab).eval()
    captioner = Captioner(model, vocab, build_transform(model.config.encoder))
    images = _images()
    batch = {"image": torch.stack([captioner.transform(i) for i in images]),
             "tokens": torch.nn.utils.rnn.pad_sequence([torch.tensor(vocab.encode(c.split())) for c in CAPTIONS], batch_first=True)}
    out = model.train()(batch)
    assert torch.isfinite(out["loss"]) and out["logprobs"].shape[:2] == (4, batch["tokens"].shape[1] - 1)
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    greedy = captioner.caption(images, beam_size=1)
    with torch.no_grad():
        state, context = model.start(model.encode(batch["image"]))
        beam_one = beam_search(model.step, state, context, batch_size=4, bos_id=vocab.bos_id, eos_id=vocab.eos_id,
                               pad_id=vocab.pad_id, beam_size=1, max_length=model.config.max_length)
    assert [list(r.words) for r in greedy] == [vocab.decode(s) for s in beam_one.sequences]
    assert all(abs(a.score - float(b)) < 1e-4 for a, b in zip(greedy, beam_one.scores))


@pytest.mark.parametrize("name", ["show_tell", "show_attend_tell"])
def test_tiny_model_overfits_a_handful_of_captions_exactly(name: str) -> None:
    torch.manual_seed(0)
    vocab = _vocab()
    model = _build(name, vocab, attention_regularization=0.0)
    transform = build_transform(model.config.encoder)
    images = torch.stack([transform(i) for i in _images()])
    tokens = torch.nn.utils.rnn.pad_sequence([torch.tensor(vocab.encode(c.split())) for c in CAPTIONS], batch_first=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        optimizer.zero_grad()
        loss = model({"image": images, "tokens": tokens})["loss"]
        loss.backward()
        optimizer.step()
        if loss.item() < 0.02:
            break
    captioner = Captioner(model, vocab, transform)
    for beam in (1, 3):
        assert [r.caption for r in captioner.caption(_images(), beam_size=beam)] == CAPTIONS


def test_attention_models_report_attention_per_word(tmp_path: Path) -> None:
    torch.manual_seed(0)
    vocab = _vocab()
    model = _build("show_attend_tell", vocab).eval()
    captioner = Captioner(model, vocab, build_transform(model.config.encoder))
    result = captioner.caption(_images()[:1], beam_size=2, with_attention=True, max_length=5)[0]
    assert result.attention is not None
    assert result.attention.shape == (len(result.words), *model.encoder.grid_shape)
    assert torch.allclose(result.attention.flatten(1).sum(1), torch.ones(len(result.words)), atol=1e-5)


def _checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    vocab = _vocab()
    model = _build("show_attend_tell", vocab)
    path = tmp_path / "cap.safetensors"
    save_checkpoint(path, model, task="caption", model_name="show_attend_tell", model_config=model.config,
                    vocab=vocab.to_dict())
    return path


def test_checkpoint_round_trip_gives_the_same_captions(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path)
    first = Captioner.from_checkpoint(path).caption(_images(), beam_size=3)
    second = Captioner.from_checkpoint(path).caption(_images(), beam_size=3)
    assert [r.caption for r in first] == [r.caption for r in second]
    assert isinstance(Captioner.from_checkpoint(path).model.config, CaptionModelConfig)


def test_caption_cli_outputs_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = _checkpoint(tmp_path)
    image = tmp_path / "img.png"
    _images()[0].save(image)
    assert main(["caption", str(image), "--weights", str(weights), "--json", "--attention-map", str(tmp_path / "att.png")]) == 0
    assert '"caption"' in capsys.readouterr().out
    assert Image.open(tmp_path / "att.png").size[0] > 0
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(image.read_bytes()[:60])
    for bad, message in [(tmp_path / "absent.png", "no such file"), (text, "not an image"),
                         (truncated, "corrupt")]:
        assert main(["caption", str(bad), "--weights", str(weights)]) == 2
        err = capsys.readouterr().err
        assert message in err and str(bad) in err and err.count("\n") == 1
    assert main(["caption", str(image), "--weights", str(text)]) == 2
    assert "not a readable safetensors checkpoint" in capsys.readouterr().err
