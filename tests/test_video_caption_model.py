"""Video caption models: one step() for teacher forcing and every decoder, padding that changes nothing."""

from __future__ import annotations

import pytest
import torch

from multimodal_rnn.checkpoint import save_checkpoint
from multimodal_rnn.decoding import beam_search, greedy_decode, sample_decode
from multimodal_rnn.errors import ConfigError
from multimodal_rnn.tasks import MODELS
from multimodal_rnn.tasks.video_caption.models import VideoCaptionModel, _cell_changes
from multimodal_rnn.tasks.video_caption.predictor import VideoCaptioner, pad_clips
from multimodal_rnn.text.vocab import Vocabulary

CAPTIONS = ["a red circle moves left", "a blue square grows", "a green triangle stays still", "a circle appears"]
SMALL = {
    "embed_size": 16,
    "hidden_size": 32,
    "frame_size": 24,
    "dropout": 0.0,
    "num_frames": 4,
    "encoder": {"channels": [8, 16], "image_size": 16},
}
VARIANTS: dict[str, dict[str, object]] = {
    "frames": {"attend": "frames", "summary": False},
    "previous": {"query": "previous", "cell_changes": False, "summary": False},
}
"""temporal_attention besides its defaults (cells, cell changes, summary, query "current"):
attending over the T frames, and querying with the previous hidden state without the extras."""
NAMES = [*MODELS.names(task="video_caption"), *(f"temporal_attention/{v}" for v in VARIANTS)]
"""Every model, and the variants of temporal_attention."""


def _vocab() -> Vocabulary:
    return Vocabulary.build([c.split() for c in CAPTIONS])


def _build(name: str, vocab: Vocabulary, **overrides: object) -> VideoCaptionModel:
    name, _, variant = name.partition("/")
    extra = VARIANTS[variant] if variant else {}
    model = MODELS.build(name, {**SMALL, **extra, **overrides, "vocab_size": len(vocab)})
    assert isinstance(model, VideoCaptionModel)
    return model


def _clips(lengths: list[int], seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn((length, 3, 16, 16), generator=generator) for length in lengths]


def _tokens(vocab: Vocabulary) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence([torch.tensor(vocab.encode(c.split())) for c in CAPTIONS], batch_first=True)


@pytest.mark.parametrize("name", NAMES)
def test_teacher_forcing_equals_decoding_step_by_step(name: str) -> None:
    torch.manual_seed(0)
    vocab = _vocab()
    model = _build(name, vocab).eval()
    frames, mask = pad_clips(_clips([4, 2, 3, 4]))
    with torch.no_grad():
        state, context = model.start(model.encode(frames, mask))
        greedy = greedy_decode(
            model.step, state, context, batch_size=4, bos_id=vocab.bos_id, eos_id=vocab.eos_id, max_length=6
        )
        # the greedy tokens fed back by teacher forcing give the same log-probabilities
        fed = torch.cat([torch.full((4, 1), vocab.bos_id), greedy.tokens], dim=1)
        forced = model({"frames": frames, "mask": mask, "tokens": fed})["logprobs"]  # (4, T, V)
    chosen = forced.gather(2, greedy.tokens[:, :, None]).squeeze(2)
    assert torch.allclose(chosen * greedy.mask, greedy.logprobs, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_beam_one_equals_greedy_and_the_predictor_batches(name: str) -> None:
    torch.manual_seed(1)
    vocab = _vocab()
    captioner = VideoCaptioner(_build(name, vocab), vocab)
    frames, mask = pad_clips(_clips([4, 1, 3]))
    greedy = captioner.caption_tensors(frames, mask, beam_size=1)
    model = captioner.model
    with torch.no_grad():
        state, context = model.start(model.encode(frames, mask))
        beam = beam_search(
            model.step,
            state,
            context,
            batch_size=3,
            bos_id=vocab.bos_id,
            eos_id=vocab.eos_id,
            beam_size=1,
            max_length=model.config.max_length,
        )
    assert [list(r.words) for r in greedy] == [vocab.decode(s) for s in beam.sequences]
    assert all(abs(r.score - float(s)) < 1e-4 for r, s in zip(greedy, beam.scores))
    # a padded clip is captioned as it is alone, whatever its batch
    for index, clip in enumerate(_clips([4, 1, 3])):
        for beam_size in (1, 3):
            alone = captioner.caption_tensors(clip[None], beam_size=beam_size)[0]
            batched = captioner.caption_tensors(frames, mask, beam_size=beam_size)[index]
            assert alone.words == batched.words and abs(alone.score - batched.score) < 1e-4


@pytest.mark.parametrize("name", ["temporal_attention", "temporal_attention/frames", "temporal_attention/previous"])
def test_attention_traces_are_weights_over_the_real_frames(name: str) -> None:
    torch.manual_seed(2)
    vocab = _vocab()
    captioner = VideoCaptioner(_build(name, vocab), vocab)
    frames, mask = pad_clips(_clips([4, 2]))
    for beam_size in (1, 2):
        results = captioner.caption_tensors(frames, mask, beam_size=beam_size, with_attention=True, max_length=5)
        for result, length in zip(results, (4, 2)):
            assert result.attention is not None and result.attention.shape == (len(result.words), 4)
            assert torch.allclose(result.attention.sum(dim=1), torch.ones(len(result.words)), atol=1e-5)
            assert bool((result.attention[:, length:] == 0).all())
    s2vt = VideoCaptioner(_build("s2vt", vocab), vocab)
    assert s2vt.caption_tensors(frames, mask, with_attention=True)[0].attention is None


@pytest.mark.parametrize("name", NAMES)
def test_training_runs_captions_share_their_clip_and_sampling_keeps_the_graph(name: str) -> None:
    torch.manual_seed(3)
    vocab = _vocab()
    model = _build(name, vocab)
    frames, mask = pad_clips(_clips([4, 3]))
    tokens = _tokens(vocab)
    out = model.train()({"frames": frames, "mask": mask, "tokens": tokens, "caption_clip": torch.tensor([0, 0, 1, 1])})
    assert torch.isfinite(out["loss"]) and out["logprobs"].shape[:2] == (4, tokens.shape[1] - 1)
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    # two captions of clip 0 against the same clip encoded twice: the same loss
    model.eval()
    with torch.no_grad():
        shared = model({"frames": frames, "mask": mask, "tokens": tokens, "caption_clip": torch.tensor([0, 0, 1, 1])})
        twice = model({"frames": frames[[0, 0, 1, 1]], "mask": mask[[0, 0, 1, 1]], "tokens": tokens})
    assert torch.allclose(shared["logprobs"], twice["logprobs"], atol=1e-5)
    state, context = model.start(model.encode(frames, mask))
    samples = sample_decode(
        model.step,
        state,
        context,
        batch_size=2,
        bos_id=vocab.bos_id,
        eos_id=vocab.eos_id,
        max_length=5,
        num_samples=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert samples.scores.shape == (6,) and samples.scores.requires_grad


@pytest.mark.parametrize("name", NAMES)
def test_tiny_model_overfits_and_round_trips_through_a_checkpoint(name: str, tmp_path) -> None:
    torch.manual_seed(4)
    vocab = _vocab()
    model = _build(name, vocab)
    frames, mask = pad_clips(_clips([4, 4, 3, 2], seed=5))
    tokens = _tokens(vocab)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        model.train()({"frames": frames, "mask": mask, "tokens": tokens})["loss"].backward()
        optimizer.step()
    captioner = VideoCaptioner(model, vocab)
    assert [r.caption for r in captioner.caption_tensors(frames, mask, beam_size=2)] == CAPTIONS
    path = tmp_path / "video.safetensors"
    save_checkpoint(
        path,
        model,
        task="video_caption",
        model_name=name.partition("/")[0],
        model_config=model.config,
        vocab=vocab.to_dict(),
    )
    loaded = VideoCaptioner.from_checkpoint(path)
    assert [r.caption for r in loaded.caption_tensors(frames, mask, beam_size=2)] == CAPTIONS


def test_configs_refuse_bad_values_and_options_of_another_model() -> None:
    with pytest.raises(ConfigError, match="frame_features"):
        MODELS.config("s2vt", {"vocab_size": 10, "frame_features": "mean"})
    with pytest.raises(ConfigError, match="num_frames"):
        MODELS.config("s2vt", {"vocab_size": 10, "num_frames": 0})
    with pytest.raises(ConfigError, match="attention_size"):
        MODELS.config("s2vt", {"vocab_size": 10, "attention_size": 8})
    with pytest.raises(ConfigError, match="needs frame_features"):
        MODELS.config("temporal_attention", {"vocab_size": 10, "frame_features": "pooled"})
    assert MODELS.config("temporal_attention", {"vocab_size": 10, "frame_features": "pooled", "attend": "frames"})
    with pytest.raises(ConfigError, match="query must be one of previous, current"):
        MODELS.config("temporal_attention", {"vocab_size": 10, "query": "next"})


def test_changes_between_frames_ignore_dropout() -> None:
    """A still clip changes nothing in training mode either: the change features of identical frames
    are those of no change, however dropout falls (the trained model once saw motion in noise)."""
    torch.manual_seed(6)
    vocab = _vocab()
    model = _build("temporal_attention", vocab, dropout=0.5).train()
    still = _clips([1])[0].expand(4, -1, -1, -1)[None]  # (1, 4, 3, 16, 16): the same frame 4 times
    mask = torch.ones((1, 4), dtype=torch.bool)
    with torch.no_grad():
        encoded = model.encode(still, mask)
        size = model.config.frame_size
        no_change = model.change_projection(torch.zeros(model.change_projection.in_features))
        assert torch.allclose(encoded.frames[0, :, size:], no_change.expand(4, -1))
        assert encoded.cells is not None
        change, activity = _cell_changes(encoded.cells, mask)
        assert change.shape == activity.shape == (*encoded.cells.shape[:3], 1)
        assert float(change.abs().sum()) == 0.0 and float(activity.abs().sum()) == 0.0
        moving = torch.cat([still[:, :2], _clips([2], seed=9)[0][None]], dim=1)  # frames 2 and 3 differ
        cells = model.encode(moving, mask).cells
        assert cells is not None
        change, activity = _cell_changes(cells, mask)
    assert float(change[0, :2].abs().sum()) == 0.0 and float(change[0, 2:].sum()) > 0.0
    assert torch.allclose(activity[0, 0], change[0].sum(dim=0) / 3)
