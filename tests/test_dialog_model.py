"""Dialog models: every registered model builds, scores 100 options, learns a tiny batch, survives a checkpoint;
one config per model; the agent follows its model's device; the shipped weights answer as before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from multimodal_rnn.checkpoint import read_header, save_checkpoint
from multimodal_rnn.config import config_to_dict
from multimodal_rnn.datasets.image_reader import ImageReader
from multimodal_rnn.datasets.visdial import read_visdial
from multimodal_rnn.datasets.visdial_batches import DialogText, DialogTextConfig, VisDialDataset, collate_visdial
from multimodal_rnn.decoding import beam_search, greedy_decode
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.images import load_image
from multimodal_rnn.shipped import weights_dir
from multimodal_rnn.tasks.dialog.predictor import DialogAgent
from multimodal_rnn.tasks.dialog.models import DIALOG_MODELS, DialogModel
from multimodal_rnn.tasks.dialog.training import DialogTrainingConfig, dialog_training_setup
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.text.vocab import Vocabulary, tokenize
from tests.test_dialog_data import ANSWERS, QUESTIONS, visdial_file, write

SMALL = {"embed_size": 16, "hidden_size": 24, "attention_size": 8, "dropout": 0.0,
         "encoder": {"backbone": "small_cnn", "channels": [4, 8], "image_size": 16}}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Vocabulary, dict, VisDialDataset]:
    tmp_path = tmp_path_factory.mktemp("dialog")
    data = read_visdial(write(tmp_path, visdial_file("val", dialogs=3)), tmp_path, image_pattern="{image_id}.png")
    for image_id in (5, 6, 7):
        Image.new("RGB", (16, 16), (40 * image_id, 0, 255 - 30 * image_id)).save(tmp_path / f"{image_id}.png")
    vocab = Vocabulary.build([tokenize(t) for t in ANSWERS + QUESTIONS + ["a scene number"]])
    transform = lambda image: torch.from_numpy(__import__("numpy").asarray(image, dtype="float32") / 255).permute(2, 0, 1)
    images = ImageReader(lambda path: Image.open(path).convert("RGB"), transform)
    dataset = VisDialDataset(data, images, DialogText(vocab))
    batch = collate_visdial([dataset[i] for i in range(3)], pad_id=vocab.pad_id)
    return vocab, batch, dataset


def build(name: str, vocab: Vocabulary) -> DialogModel:
    config = MODELS.config(name, {**SMALL, "num_words": len(vocab)}, where="test")
    model = MODELS.build(name, config)
    assert isinstance(model, DialogModel)
    return model


@pytest.mark.parametrize("name", sorted(DIALOG_MODELS))
def test_scores_options_and_learns_a_tiny_batch(name: str, setup: tuple) -> None:
    vocab, batch, _ = setup
    torch.manual_seed(0)
    model = build(name, vocab)
    model.eval()
    outputs = model(batch)
    assert outputs["scores"].shape == (3, 10, 100) and torch.isfinite(outputs["scores"]).all()
    before = float(outputs["loss"].detach())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        optimizer.zero_grad()
        model(batch)["loss"].backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        after = model(batch)
    assert float(after["loss"]) < 0.5 * before
    gt_scores = after["scores"].gather(2, batch["gt_index"][:, :, None])  # (D, R, 1)
    gt_ranks = 1 + (after["scores"] > gt_scores).sum(dim=2)  # (D, R)
    assert gt_ranks.float().mean() < (1.5 if DIALOG_MODELS[name][1] == "discriminative" else 15.0)


def test_generative_scores_are_option_log_likelihoods(setup: tuple) -> None:
    vocab, batch, _ = setup
    torch.manual_seed(0)
    model = build("lf_gen", vocab).eval()
    with torch.no_grad():
        scores = model(batch)["scores"]
        encoded = model.encode(batch)
        d, r, k = 1, 4, 37
        row = int(batch["options"][d, r, k])
        words = batch["answers"][row, : int(batch["answer_lengths"][row])]
        (state, context), total = model.start(encoded[d, r][None]), 0.0
        for t in range(len(words) - 1):  # step by step through the decoding contract
            logprobs, state = model.step(words[t: t + 1], state, context)
            total += float(logprobs[0, words[t + 1]])
    assert float(scores[d, r, k]) == pytest.approx(total, abs=1e-4)
    with torch.no_grad():
        start = model.start(encoded[0, :2])
        greedy = greedy_decode(model.step, *start, batch_size=2, bos_id=vocab.bos_id, eos_id=vocab.eos_id, max_length=6)
        beam = beam_search(model.step, *start, batch_size=2, bos_id=vocab.bos_id, eos_id=vocab.eos_id, beam_size=1,
                           max_length=6)
    assert greedy.sequences == beam.sequences


def test_rounds_do_not_see_later_rounds(setup: tuple) -> None:
    vocab, batch, _ = setup
    for name in ("lf_disc", "hre_disc"):
        torch.manual_seed(0)
        model = build(name, vocab).eval()
        with torch.no_grad():
            full = model.encode(batch)
            cut = {**batch, "num_rounds": torch.full((3,), 4)}
            for key in ("question", "question_lengths", "history", "history_lengths", "facts", "fact_lengths"):
                cut[key] = batch[key][:, :4]
            partial = model.encode(cut)
        assert torch.allclose(full[:, :4], partial, atol=1e-5), name


def test_checkpoint_round_trip_and_chat(tmp_path: Path, setup: tuple) -> None:
    vocab, batch, dataset = setup
    torch.manual_seed(0)
    model = build("hre_disc", vocab).eval()
    path = tmp_path / "dialog.safetensors"
    save_checkpoint(path, model, task="dialog", model_name="hre_disc", model_config=model.config,
                    vocab=vocab.to_dict(), answers=["yes", "it is red", "answer 3"],
                    extra={"text": config_to_dict(DialogTextConfig(max_history_length=50))})
    agent = DialogAgent.from_checkpoint(path)
    assert agent.text.config.max_history_length == 50 and agent.candidates == ("yes", "it is red", "answer 3")
    agent.transform = dataset.images.transform
    assert torch.allclose(agent.scores(batch), model(batch)["scores"], atol=1e-5)
    session = agent.session(Image.new("RGB", (16, 16)), caption="a scene number 1")
    first = session.ask("is there a circle", top=3)
    second = session.ask("what color is it")
    assert first.answer in agent.candidates and len(first.alternatives) == 3
    assert sum(p for _, p in first.alternatives) == pytest.approx(1.0, abs=1e-4)
    assert session.questions == ["is there a circle", "what color is it"] and session.answers[1] == second.answer


def test_agent_device_follows_the_model(setup: tuple) -> None:
    vocab, _, dataset = setup
    model = build("lf_disc", vocab)
    agent = DialogAgent(model, vocab, DialogTextConfig(), ["yes"], dataset.images.transform)
    assert agent.device == torch.device("cpu") and "device" not in vars(agent)  # read from the model, not stored
    model.to("meta")
    assert agent.device == torch.device("meta")
    other = DialogAgent(build("hre_gen", vocab), vocab, DialogTextConfig(), [], dataset.images.transform)
    assert other.to("meta") is other and other.device == torch.device("meta")


@pytest.mark.parametrize("name", ["lf_disc", "hre_disc"])
def test_an_override_the_model_does_not_use_is_an_error(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"{name}.*unknown key\(s\) max_answer_length"):
        MODELS.config(name, {**SMALL, "num_words": 10, "max_answer_length": 5})
    generative = MODELS.config(name.replace("disc", "gen"), {**SMALL, "num_words": 10, "max_answer_length": 5})
    assert generative.max_answer_length == 5


def test_training_refuses_an_override_the_model_does_not_use(tmp_path: Path) -> None:
    data = read_visdial(write(tmp_path, visdial_file("val", dialogs=2)), tmp_path, image_pattern="{image_id}.png")
    config = DialogTrainingConfig(model_name="hre_disc", model={**SMALL, "max_answer_length": 5})
    with pytest.raises(ConfigError, match=r"dialog model hre_disc: unknown key\(s\) max_answer_length"):
        dialog_training_setup(data, data, config, load_image=lambda path: Image.new("RGB", (16, 16)))


def test_shipped_weights_load_and_answer_as_before() -> None:
    """The shipped lf_disc file comes from the release that shared one config among the four
    models: its header still carries max_answer_length, which reading it drops."""
    path = weights_dir() / "dialog_shapes.safetensors"
    assert "max_answer_length" in read_header(path)["model_config"]
    agent = DialogAgent.from_checkpoint(path)
    assert type(agent.model.config).__name__ == "LFDiscConfig"
    session = agent.session(load_image(str(Path(__file__).parents[1] / "data" / "samples" / "shapes_test_1.png")))
    assert session.ask("how many shapes are there?").answer == "one"
    assert session.ask("is there a circle?").answer == "no there is not"
