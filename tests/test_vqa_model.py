"""VQA heads: every registered model runs and learns, a tiny model overfits, checkpoints round-trip."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest
import torch
from PIL import Image

from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.datasets.vqa import AnswerVocabulary, build_question_vocabulary, collate_vqa, encode_question, VQARecord
from multimodal_rnn.encoders.image import build_transform
from multimodal_rnn.errors import CheckpointError, ConfigError, InputError
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.tasks.vqa.models import (
    FiLMConfig,
    LSTMQNormIConfig,
    RelationalSAAAConfig,
    SAAAConfig,
    VQAModelConfig,
    count_distribution,
)
from multimodal_rnn.tasks.vqa.predictor import Answerer

COLORS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30)}
QUESTIONS = [("what color is the square?", "red"), ("is the square on the left?", "yes"),
             ("what color is the square?", "blue"), ("is the square on the left?", "no"),
             ("what color is the square?", "green"), ("is the square on the left?", "yes")]
SMALL = {"embed_size": 16, "hidden_size": 32, "attention_size": 16, "fusion_size": 32, "classifier_size": 32,
         "dropout": 0.0, "encoder": {"channels": [8, 16, 16, 16], "image_size": 32}}


def _options(name: str, options: dict[str, object]) -> dict[str, object]:
    """The entries of ``options`` that model ``name`` has (each model takes only its own)."""
    known = {f.name for f in dataclasses.fields(MODELS.get(name).config_class)}
    return {key: value for key, value in options.items() if key in known}


def _images() -> list[Image.Image]:
    """Square of QUESTIONS[2k]'s color, on the left when QUESTIONS[2k+1] says yes."""
    images = []
    for (_, color), (_, left) in zip(QUESTIONS[::2], QUESTIONS[1::2]):
        image = Image.new("RGB", (32, 32), (200, 200, 200))
        x = 2 if left == "yes" else 18
        image.paste(COLORS[color], (x, 8, x + 12, 20))
        images += [image, image]
    return images


def _vocabularies() -> tuple[object, AnswerVocabulary]:
    records = [VQARecord(i, i // 2, q, "", (a,) * 10) for i, (q, a) in enumerate(QUESTIONS)]
    return build_question_vocabulary(records), AnswerVocabulary.build(records)


def _build(name: str, **overrides: object) -> tuple[torch.nn.Module, object, AnswerVocabulary]:
    vocab, answers = _vocabularies()
    config = {**_options(name, SMALL), **overrides, "num_words": len(vocab), "num_answers": len(answers)}
    return MODELS.build(name, config), vocab, answers


def _batch(model: torch.nn.Module, vocab: object, answers: AnswerVocabulary) -> dict[str, object]:
    transform = build_transform(model.config.encoder)
    items = [{"image": transform(image), "image_id": index // 2, "index": [index], "question_id": [index],
              "question": [torch.tensor(encode_question(vocab, q, 30))], "targets": [answers.targets([a] * 10)]}
             for index, (image, (q, a)) in enumerate(zip(_images(), QUESTIONS))]
    return collate_vqa(items, num_answers=len(answers), pad_id=vocab.pad_id)


VARIANTS = [{}, {"loss": "softmax"}, {"normalize_image": False, "grid_coordinates": False}]


@pytest.mark.parametrize("overrides", VARIANTS, ids=["bce", "softmax", "unnormalized-no-coordinates"])
@pytest.mark.parametrize("name", MODELS.names(task="vqa"))
def test_every_vqa_model_runs_and_backpropagates(name: str, overrides: dict[str, object]) -> None:
    torch.manual_seed(0)
    model, vocab, answers = _build(name, dropout=0.1, **_options(name, overrides))  # film: no image options
    batch = _batch(model, vocab, answers)
    assert batch["image"].shape[0] == 3 and batch["image_index"].tolist() == [0, 0, 1, 1, 2, 2]
    out = model.train()(batch)
    assert out["logits"].shape == (6, len(answers)) and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
    if model.attends:
        grid = model.encoder.grid_shape
        assert out["attention"].shape == (6, model.config.glimpses, grid[0] * grid[1])
        assert torch.allclose(out["attention"].sum(dim=2), torch.ones(6, model.config.glimpses), atol=1e-5)
    without_targets = model.eval()({k: v for k, v in batch.items() if k != "targets"})
    assert "loss" not in without_targets and without_targets["logits"].shape == (6, len(answers))


def test_bce_loss_sums_over_answers_and_softmax_skips_unanswered_rows() -> None:
    model, _, _ = _build("lstm_q_norm_i")
    logits, targets = torch.zeros(2, 4), torch.tensor([[1.0, 0.3, 0, 0], [0, 0, 0, 0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / 2
    assert model.loss(logits, targets).item() == pytest.approx(expected.item())
    softmax, _, _ = _build("lstm_q_norm_i", loss="softmax")
    assert softmax.loss(torch.zeros(2, 4), targets).item() == pytest.approx(torch.log(torch.tensor(4.0)).item())
    assert softmax.loss(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0.0


@pytest.mark.parametrize("config_class, overrides, message", [
    (SAAAConfig, {"glimpses": 1}, "glimpses"), (RelationalSAAAConfig, {"glimpses": 1}, "glimpses"),
    (VQAModelConfig, {"loss": "hinge"}, "loss"), (VQAModelConfig, {"num_answers": 0}, "num_answers"),
    (VQAModelConfig, {"max_question_length": 0}, "max_question"), (FiLMConfig, {"film_blocks": 0}, "film_blocks")])
def test_config_refuses_impossible_values(config_class: type, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_class(**{"num_words": 10, "num_answers": 3, **overrides})


@pytest.mark.parametrize("name, key, value", [
    ("lstm_q_norm_i", "glimpses", 3), ("lstm_q_norm_i", "attention_size", 16),
    ("saaa", "film_blocks", 5), ("saaa", "fusion_size", 32), ("saaa", "path_size", 8),
    ("saaa_rel", "grid_coordinates", False), ("saaa_rel", "film_size", 32),
    ("film", "normalize_image", False), ("film", "glimpses", 3),
])
def test_an_option_the_model_does_not_have_is_an_error_naming_model_and_key(name: str, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^{name} config: unknown key\(s\) {key} "):
        MODELS.config(name, {"num_words": 10, "num_answers": 3, key: value})
    with pytest.raises(ConfigError, match=rf"{name} config: unknown key\(s\) {key} "):
        _build(name, **{key: value})


def test_each_model_has_its_own_config_class() -> None:
    classes = {name: MODELS.get(name).config_class for name in MODELS.names(task="vqa")}
    assert classes == {"film": FiLMConfig, "lstm_q_norm_i": LSTMQNormIConfig, "saaa": SAAAConfig,
                       "saaa_rel": RelationalSAAAConfig}
    assert all(issubclass(cls, VQAModelConfig) for cls in classes.values())


@pytest.mark.parametrize("name", MODELS.names(task="vqa"))
def test_tiny_model_overfits_a_handful_of_questions(name: str) -> None:
    torch.manual_seed(0)
    model, vocab, answers = _build(name)
    batch = _batch(model, vocab, answers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(150):
        optimizer.zero_grad()
        loss = model(batch)["loss"]
        loss.backward()
        optimizer.step()
        if loss.item() < 0.05:
            break
    answerer = Answerer(model, vocab, answers, build_transform(model.config.encoder))
    predicted = [result.answers[0][0] for result in answerer.answer(_images(), [q for q, _ in QUESTIONS], top=1)]
    assert predicted == [a for _, a in QUESTIONS]


def _checkpoint(tmp_path: Path, name: str = "saaa") -> Path:
    torch.manual_seed(0)
    model, vocab, answers = _build(name)
    path = tmp_path / f"{name}.safetensors"
    save_checkpoint(path, model, task="vqa", model_name=name, model_config=model.config, vocab=vocab.to_dict(),
                    answers=list(answers.answers))
    return path


def test_checkpoint_round_trip_through_the_answerer(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path)
    first, second = Answerer.from_checkpoint(path), Answerer.from_checkpoint(path)
    assert isinstance(first.model.config, VQAModelConfig) and first.answers.answers == second.answers.answers
    image, question = _images()[0], QUESTIONS[0][0]
    top = first.ask(image, question, top=3)
    assert top == second.ask(image, question, top=3) and len(top) == 3
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True) and all(0 < p < 1 for _, p in top)
    result = first.answer([image], [question], with_attention=True)[0]
    assert result.attention is not None and result.attention.shape == (2, *first.model.encoder.grid_shape)
    assert torch.allclose(result.attention.flatten(1).sum(1), torch.ones(2), atol=1e-5)
    assert first.ask(image, question + " hexagon zebra " * 5000, top=1)[0][0] in first.answers.answers
    with pytest.raises(InputError, match="empty"):
        first.ask(image, " ? ")
    caption_like = tmp_path / "other.safetensors"
    model, _, _ = _build("saaa")
    save_checkpoint(caption_like, model, task="caption", model_name="saaa", model_config=model.config)
    with pytest.raises(CheckpointError, match="task 'caption', expected 'vqa'"):
        Answerer.from_checkpoint(caption_like)
    no_answers = tmp_path / "bare.safetensors"
    save_checkpoint(no_answers, model, task="vqa", model_name="saaa", model_config=model.config)
    with pytest.raises(CheckpointError, match="vqa checkpoint without a vocabulary and an answer list"):
        Answerer.from_checkpoint(no_answers)


def test_answerer_reads_its_device_from_the_model(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path)
    answerer = Answerer.from_checkpoint(path, device="cpu")
    assert answerer.device == torch.device("cpu") and "device" not in vars(answerer)  # nothing stored
    answerer.model.to("meta")
    assert answerer.device == torch.device("meta")
    other = Answerer.from_checkpoint(path)
    assert other.to("meta") is other and other.device.type == "meta" and next(other.model.parameters()).is_meta
    model, vocab, answers = _build("film")
    assert Answerer(model, vocab, answers, build_transform(model.config.encoder), device="meta").device.type == "meta"
    assert next(model.parameters()).device.type == "meta"  # the device argument moved the model itself


def test_cell_orders_compare_cell_centres_with_ties_counting_half() -> None:
    from multimodal_rnn.tasks.vqa.models.saaa_rel import cell_orders as _cell_orders

    # 2x2 grid, row-major: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right (y grows downwards)
    centres = torch.tensor([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]])
    left, right, above, below = _cell_orders(centres)
    assert left[0, 1] == 1 and left[1, 0] == 0 and left[0, 2] == 0.5 and left[2, 1] == 1
    assert torch.equal(right, left.T)
    assert above[0, 2] == 1 and above[2, 0] == 0 and above[0, 1] == 0.5 and above[1, 2] == 1
    assert torch.equal(below, above.T)
    # a map on cell 0 against a map on cell 3: 0 is left of and above 3, not right of or below it
    one_hot = torch.eye(4)
    comparisons = torch.einsum("n,rnm,m->r", one_hot[0], _cell_orders(centres), one_hot[3])
    assert comparisons.tolist() == [1.0, 0.0, 1.0, 0.0]


def test_saaa_rel_glimpses_start_on_early_and_late_words() -> None:
    model, _, _ = _build("saaa_rel", glimpses=3)
    assert model.word_order.tolist() == [-3.0, 0.0, 3.0]


@pytest.mark.parametrize("query", ["embeddings", "outputs"])
def test_saaa_rel_glimpses_query_with_word_embeddings_or_core_outputs(query: str) -> None:
    torch.manual_seed(0)
    model, vocab, answers = _build("saaa_rel", glimpse_query=query)
    size = model.config.embed_size if query == "embeddings" else model.config.hidden_size
    assert model.query_projection[0].in_features == size
    out = model.train()(_batch(model, vocab, answers))
    out["loss"].backward()
    assert out["attention"].shape[1] == 2 and torch.isfinite(out["loss"])
    assert RelationalSAAAConfig(num_words=10, num_answers=3).glimpse_query == "embeddings"
    with pytest.raises(ConfigError, match="glimpse_query"):
        RelationalSAAAConfig(num_words=10, num_answers=3, glimpse_query="words")


@pytest.mark.parametrize("paths", [{"relation_path": True}, {"count_path": True},
                                   {"relation_path": True, "count_path": True}])
def test_saaa_rel_direct_paths_start_silent_and_learn_at_once(paths: dict[str, bool]) -> None:
    """Zero-initialized, the direct paths leave the first logits unchanged, yet their weights get a gradient on the first update."""
    torch.manual_seed(0)
    plain, vocab, answers = _build("saaa_rel", relation_path=False, count_path=False)
    torch.manual_seed(0)
    model, _, _ = _build("saaa_rel", **{"relation_path": False, "count_path": False, **paths})
    batch = _batch(model, vocab, answers)
    with torch.no_grad():
        assert torch.allclose(model.eval()(batch)["logits"], plain.eval()(batch)["logits"], atol=1e-6)
    out = model.train()(batch)
    out["loss"].backward()
    assert float(model.path_answers.weight.grad.abs().sum()) > 0
    bins = 10 if paths.get("count_path") else 0
    relations = 2 * 4 if paths.get("relation_path") else 0
    assert model.path_answers.in_features == model.config.path_size * (relations + 2 * bins)


def test_count_distribution_is_the_exact_poisson_binomial() -> None:
    """P(count = c) of independent cells equals brute force over all 2^6 outcomes; the last bin holds c >= 3."""
    torch.manual_seed(0)
    probabilities = torch.rand(3, 6)
    expected = torch.zeros(3, 4)
    for outcome in itertools.product([0.0, 1.0], repeat=6):
        cells = torch.tensor(outcome)
        chance = (probabilities * cells + (1 - probabilities) * (1 - cells)).prod(dim=1)
        expected[:, min(int(cells.sum()), 3)] += chance
    assert torch.allclose(count_distribution(probabilities, 4), expected, atol=1e-6)
    assert count_distribution(torch.ones(2, 5), 10)[:, 5].tolist() == [1.0, 1.0]
    assert count_distribution(torch.full((1, 3), 0.5), 2).tolist() == [[0.125, 0.875]]  # P(0) and P(>= 1)
    with pytest.raises(ValueError, match="2 bins"):
        count_distribution(probabilities, 1)


def test_saaa_rel_count_path_starts_near_one_object() -> None:
    """The count scores start near sigmoid(-4) per cell: over an 8x8 grid the expected count is about 1, 9+ is unlikely."""
    torch.manual_seed(0)
    model, vocab, answers = _build("saaa_rel", relation_path=False, encoder={"channels": [8, 16, 16], "image_size": 64})
    transform = build_transform(model.config.encoder)
    batch = _batch(model, vocab, answers)
    batch["image"] = torch.stack([transform(image.resize((64, 64))) for image in _images()])
    assert model.coordinates.shape[0] == 64
    inputs = []
    hook = model.path_answers.register_forward_hook(lambda module, args, output: inputs.append(args[0]))
    with torch.no_grad():
        model.eval()(batch)
    hook.remove()
    gate = model.path_query(model.encode_question(batch["question"], batch["lengths"]).summary)  # (B, Z)
    counts = inputs[0].view(len(QUESTIONS), model.config.path_size, 2, 10)[:, 0] / gate[:, :1, None]  # (B, G, bins)
    assert torch.allclose(counts.sum(dim=2), torch.ones(len(QUESTIONS), 2), atol=1e-4)
    expected = (counts * torch.arange(10.0)).sum(dim=2)  # (B, G) mean counts
    assert bool(((expected > 0.3) & (expected < 3.0)).all()) and bool((counts[:, :, 9] < 1e-3).all())
    with pytest.raises(ConfigError, match="path_size"):
        RelationalSAAAConfig(num_words=10, num_answers=3, path_size=0)
