"""Caption heads: every registered model runs through one step(); a tiny model overfits exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from apps.cli import main
from multimodal_rnn.tasks.caption.predictor import Captioner
from multimodal_rnn.checkpoint import read_header, save_checkpoint
from multimodal_rnn.config import config_to_dict
from multimodal_rnn.decoding import beam_search
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import CheckpointError, ConfigError
from multimodal_rnn.tasks.caption.models import AttentionCaptionConfig, CaptionModelConfig
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.text.vocab import Vocabulary

CAPTIONS = ["a red circle", "two blue squares", "a green triangle above a red circle", "one yellow shape"]
COLORS = [(220, 30, 30), (30, 30, 220), (30, 200, 30), (230, 220, 20)]
SMALL = {"embed_size": 32, "hidden_size": 64, "dropout": 0.0, "encoder": {"channels": [8, 16, 16, 32], "image_size": 32}}
SMALL_ATTENTION = {"attention_size": 32}
"""Added for the models whose config has attention options."""


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
    attention = SMALL_ATTENTION if issubclass(MODELS.get(name).config_class, AttentionCaptionConfig) else {}
    config = {**SMALL, **attention, **overrides, "vocab_size": len(vocab)}
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


@pytest.mark.parametrize("name, overrides", [("show_tell", {}), ("show_attend_tell", {"attention_regularization": 0.0})])
def test_tiny_model_overfits_a_handful_of_captions_exactly(name: str, overrides: dict[str, object]) -> None:
    torch.manual_seed(0)
    vocab = _vocab()
    model = _build(name, vocab, **overrides)
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


@pytest.mark.parametrize("name, key", [("show_tell", "attention_size"), ("show_tell", "gated_attention"),
                                       ("show_tell", "attention_regularization"), ("updown", "num_layers")])
def test_an_option_the_model_does_not_have_is_an_error_naming_model_and_key(name: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name} config: unknown key\(s\) {key} for \w+Config"):
        MODELS.config(name, {"vocab_size": 10, key: 1})
    with pytest.raises(ConfigError, match=rf"{name} config: unknown key\(s\) {key}"):
        _build(name, _vocab(), **{key: 1})


def test_each_caption_model_has_its_own_config_with_the_options_it_uses() -> None:
    classes = {name: MODELS.get(name).config_class for name in MODELS.names(task="caption")}
    assert len(set(classes.values())) == len(classes) == 3
    assert all(issubclass(cls, CaptionModelConfig) for cls in classes.values())
    attention = {"attention_size": 8, "gated_attention": False, "attention_regularization": 0.5}
    assert MODELS.config("show_attend_tell", {"vocab_size": 10, "num_layers": 2, **attention}).num_layers == 2
    assert MODELS.config("updown", {"vocab_size": 10, **attention}).attention_size == 8
    assert MODELS.config("show_tell", {"vocab_size": 10, "num_layers": 2}).num_layers == 2


def test_the_shipped_header_fits_its_model_config_class() -> None:
    header = read_header(Path(__file__).resolve().parent.parent / "weights" / "caption_shapes.safetensors")
    config = MODELS.config(header["model_name"], header["model_config"])
    assert config_to_dict(config) == header["model_config"]


def test_captioner_reads_its_device_from_the_model() -> None:
    vocab = _vocab()
    model = _build("show_tell", vocab)
    captioner = Captioner(model, vocab, build_transform(model.config.encoder))
    assert captioner.device == torch.device("cpu") and "device" not in vars(captioner)
    model.to("meta")
    assert captioner.device == torch.device("meta")
    other = _build("show_tell", vocab)
    moved = Captioner(other, vocab, build_transform(other.config.encoder))
    assert moved.to("meta") is moved and next(other.parameters()).device == torch.device("meta")
    fresh = _build("show_tell", vocab)
    assert Captioner(fresh, vocab, build_transform(fresh.config.encoder), device="meta").device == torch.device("meta")
    assert next(fresh.parameters()).device == torch.device("meta")


FLAT_CONFIG = {"attention_size": 128, "gated_attention": True, "attention_regularization": 0.1, "num_layers": 1}
"""What checkpoints written with the one flat caption config hold besides the shared options."""


@pytest.mark.parametrize("name", MODELS.names(task="caption"))
def test_checkpoints_with_the_old_flat_config_still_load(name: str, tmp_path: Path) -> None:
    vocab = _vocab()
    model = _build(name, vocab)
    path = tmp_path / "old.safetensors"
    flat = {**FLAT_CONFIG, **config_to_dict(model.config)}
    save_checkpoint(path, model, task="caption", model_name=name, model_config=flat, vocab=vocab.to_dict())
    loaded = Captioner.from_checkpoint(path)
    assert loaded.model.config == model.config
    assert [r.caption for r in loaded.caption(_images(), beam_size=2)] == [
        r.caption for r in Captioner(model, vocab, loaded.transform).caption(_images(), beam_size=2)]


def test_an_old_updown_checkpoint_with_another_depth_is_refused(tmp_path: Path) -> None:
    vocab = _vocab()
    model = _build("updown", vocab)
    path = tmp_path / "old.safetensors"
    save_checkpoint(path, model, task="caption", model_name="updown", vocab=vocab.to_dict(),
                    model_config={**FLAT_CONFIG, **config_to_dict(model.config), "num_layers": 2})
    with pytest.raises(CheckpointError, match=r"updown config: unknown key\(s\) num_layers"):
        Captioner.from_checkpoint(path)
